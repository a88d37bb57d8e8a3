"""``python -m api``: run the API with uvicorn; ``mint-key`` / ``add-user``: create a
key or a user.

Both read their settings from ``MILLSTREAM_API_*`` environment variables, and the shared
Kafka and InfluxDB ones from ``MILLSTREAM_*`` (see :class:`api.settings.ApiSettings`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import uvicorn

from api.app import create_app
from api.auth.passwords import check_password_policy
from api.auth.roles import Role
from api.auth.store import ApiKeyStore
from api.auth.user_store import UserStore
from api.auth.users import check_username
from api.kafka.producer import KafkaPublisher
from api.kafka.store import CompactedStore
from api.security.logredact import install_log_redaction
from api.security.startup import check_deployment
from api.settings import ApiSettings
from contracts.errors import ConfigError, MillstreamError
from contracts.settings import load_settings
from kafka_edge.connection import KafkaConnection

logger = logging.getLogger("api")

StoreT = TypeVar("StoreT", bound=CompactedStore)

PASSWORD_ENV = "MILLSTREAM_NEW_USER_PASSWORD"  # noqa: S105 (a variable name)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
    )


# Allocations between young collections, young collections between middle ones, middle
# ones between full ones (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 50)


def collect_less() -> None:
    """Leave start-up's objects out of every collection, and collect less often.

    Fan-out allocates a frame, a task and a few buffers per client per message, none of
    them in cycles, while a thousand sockets and their sessions stay alive. With CPython's
    defaults a full collection, which walks every live object and here freed nothing, ran
    every ten seconds or so and held the event loop for hundreds of milliseconds: with
    1,000 clients at 10 frames/s (bench ws_fanout, a loaded machine) the pauses over 5 ms
    added up to 12.6 s in two minutes, the longest 1.3 s; with these thresholds 0.8 s, the
    longest 175 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(settings: ApiSettings) -> None:
    install_log_redaction()
    base = settings.base_url()
    logger.info(
        "api starting url=%s docs=%s/docs live=%s/live env=%s",
        base,
        base,
        base.replace("http", "ws", 1),
        settings.env,
    )
    app = create_app(settings)
    collect_less()
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        proxy_headers=False,
        # /live frames are a few hundred bytes of JSON: per-message deflate saved little on
        # the wire and cost a fifth of the API's time at 1,000 clients (bench ws_fanout).
        ws_per_message_deflate=False,
        ssl_certfile=str(settings.api_tls_cert) if settings.api_tls_cert else None,
        ssl_keyfile=str(settings.api_tls_key) if settings.api_tls_key else None,
    )


@contextlib.asynccontextmanager
async def _started(
    settings: ApiSettings, make: Callable[..., StoreT], topic: str
) -> AsyncIterator[StoreT]:
    """One store, read to its end and able to write, for a command that changes it."""
    kafka = KafkaConnection.from_settings(settings)
    publisher = KafkaPublisher(kafka=kafka, produce_timeout_s=settings.kafka_produce_timeout_s)
    await publisher.start()
    try:
        store = make(kafka=kafka, topic=topic, publisher=publisher)
        await store.start(timeout_s=settings.startup_timeout_s)
        try:
            yield store
        finally:
            await store.stop()
    finally:
        await publisher.stop()


async def add_user(settings: ApiSettings, *, username: str, password: str, role: Role) -> None:
    async with _started(settings, UserStore, settings.topics.users) as store:
        existing = store.get(username)
        if existing is None:
            await store.create(username=username, password=password, role=role)
        else:
            await store.update(existing, role=role, password=password, disabled=False)


def _read_password(env_name: str) -> str:
    """From ``env_name`` if set (scripts), else asked twice on the terminal."""
    password = os.environ.get(env_name)
    if password is None:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise ValueError("password: the two entries differ")
    check_password_policy(password)
    return password


async def mint(settings: ApiSettings, *, name: str, role: Role) -> str:
    async with _started(settings, ApiKeyStore, settings.topics.api_keys) as store:
        minted = await store.create(name=name, role=role)
    return minted.secret


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the API (the default)")
    mint_parser = commands.add_parser("mint-key", help="create an API key; prints its secret once")
    mint_parser.add_argument("--name", required=True, help="who uses the key, e.g. scada-line-3")
    mint_parser.add_argument("--role", choices=[r.value for r in Role], default=Role.operator.value)
    user_parser = commands.add_parser(
        "add-user",
        help="create a user, or reset its password and role; the password is read from "
        f"{PASSWORD_ENV} or asked on the terminal",
    )
    user_parser.add_argument("--username", required=True)
    user_parser.add_argument("--role", choices=[r.value for r in Role], default=Role.operator.value)
    args = parser.parse_args(argv)

    try:
        settings = load_settings(ApiSettings)
        if args.command in (None, "serve"):
            check_deployment(settings)
    except ConfigError as exc:
        print(f"api: invalid configuration: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    try:
        if args.command == "add-user":
            try:
                check_username(args.username)
                password = _read_password(PASSWORD_ENV)
            except ValueError as exc:
                print(f"api: add-user: {exc}", file=sys.stderr)
                return 2
            asyncio.run(
                add_user(settings, username=args.username, password=password, role=Role(args.role))
            )
            print(f"user {args.username} ({args.role}) saved")
            return 0
        if args.command == "mint-key":
            secret = asyncio.run(mint(settings, name=args.name, role=Role(args.role)))
            print(secret)
            return 0
        serve(settings)
    except MillstreamError as exc:
        logger.error("api failed error=%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
