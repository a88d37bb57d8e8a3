"""``python -m api``: run the API with uvicorn; ``python -m api mint-key``: create a key.

Both read their settings from ``MILLSTREAM_*`` environment variables (see
:class:`api.settings.ApiSettings`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import uvicorn

from api.app import create_app
from api.auth.roles import Role
from api.auth.store import ApiKeyStore
from api.kafka.producer import KafkaPublisher
from api.settings import ApiSettings
from contracts.errors import ConfigError, MillstreamError
from contracts.settings import load_settings

logger = logging.getLogger("api")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
    )


def serve(settings: ApiSettings) -> None:
    base = settings.base_url()
    logger.info(
        "api starting url=%s docs=%s/docs live=%s/live",
        base,
        base,
        base.replace("http://", "ws://", 1),
    )
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        proxy_headers=False,
    )


async def mint(settings: ApiSettings, *, name: str, role: Role) -> str:
    publisher = KafkaPublisher(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        produce_timeout_s=settings.kafka_produce_timeout_s,
    )
    await publisher.start()
    try:
        store = ApiKeyStore(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=settings.topics.api_keys,
            publisher=publisher,
        )
        await store.start(timeout_s=settings.startup_timeout_s)
        try:
            minted = await store.create(name=name, role=role)
        finally:
            await store.stop()
    finally:
        await publisher.stop()
    return minted.secret


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the API (the default)")
    mint_parser = commands.add_parser("mint-key", help="create an API key; prints its secret once")
    mint_parser.add_argument("--name", required=True, help="who uses the key, e.g. scada-line-3")
    mint_parser.add_argument("--role", choices=[r.value for r in Role], default=Role.operator.value)
    args = parser.parse_args(argv)

    try:
        settings = load_settings(ApiSettings)
    except ConfigError as exc:
        print(f"api: invalid configuration: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    try:
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
