"""Serving an app from a background thread on a free port, for the integration tests.

Also the Kafka look-ups the API tests share (``end_offsets``, ``records_since``).

Imported as ``from apiserver import ServerThread``: pytest puts this directory on
``sys.path`` for the tests in it (the directory is not a package).

The server runs its own event loop, so a test can talk to it over real HTTP and
WebSocket connections from any loop, the way a user's client would.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn
from aiokafka import TopicPartition
from fastapi import FastAPI

from api.errors import StartupError
from api.kafka.partitions import topic_partitions
from infra.ports import free_port
from kafka_edge.aio_clients import aio_observer
from kafka_edge.connection import KafkaConnection


class ServerThread:
    """``with ServerThread(app) as server: httpx.get(server.url + "/health")``."""

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout_s: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._startup_timeout_s = startup_timeout_s
        config = uvicorn.Config(
            app, host=host, port=self.port, log_config=None, lifespan="on", ws="auto"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise StartupError("api server exited during start-up (see the log)")
            if time.monotonic() >= deadline:
                self.stop()
                raise StartupError(f"api server not started within {self._startup_timeout_s:g}s")
            time.sleep(0.05)

    def stop(self, *, timeout_s: float = 30.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def end_offsets(
    bootstrap: str, topic: str, *, timeout_s: float = 20.0
) -> dict[TopicPartition, int]:
    """The end offset of every partition of ``topic``: where records produced next will go."""
    partitions = await topic_partitions(
        KafkaConnection.plain(bootstrap), [topic], timeout_s=timeout_s
    )
    consumer = aio_observer(KafkaConnection.plain(bootstrap))
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def records_since(
    bootstrap: str, since: dict[TopicPartition, int], *, count: int, timeout_s: float = 20.0
) -> list[tuple[bytes, bytes | None]]:
    """The first ``count`` records produced after ``since`` (end offsets taken earlier), or
    what arrived of them within ``timeout_s``."""
    consumer = aio_observer(KafkaConnection.plain(bootstrap))
    await consumer.start()
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        found: list[tuple[bytes, bytes | None]] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found += [(r.key, r.value) for r in records]
        return found
    finally:
        await consumer.stop()
