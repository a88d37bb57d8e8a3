"""The Kafka edge of the connector (kafka-python).

``send`` only appends to the producer's buffer, so it is called from the event loop;
delivery results arrive on kafka-python's sender thread through the future's callback
and errback, which count them and log failures. Calls that can block (building the
producer, fetching topic metadata, flush, close) run in a worker thread. Topic metadata
is fetched before the first send, so ``send`` never waits for it on the loop.

The producer keeps kafka-python's default ``max_request_size`` (1 MiB, just under the
broker's default ``message.max.bytes``), so an oversized record is refused by ``send``
itself, counted, and never reaches the broker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from connectors.config.settings import ConnectorSettings
from connectors.forwarding.partitioner import KeyHashCachingPartitioner
from connectors.lifecycle import sleep_unless_stopped
from contracts.commands import CommandResult
from contracts.machines import MachineInfo
from contracts.readings import Reading
from contracts.topics import TopicNames

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class PublishStats:
    """Records handed to the producer, acknowledged by Kafka, and lost."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, sent: int = 0, delivered: int = 0, failed: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.delivered += delivered
            self.failed += failed


def build_kafka_producer(settings: ConnectorSettings) -> Any:
    """A ``KafkaProducer`` tuned for readings; blocks until the cluster answers."""
    acks: str | int = (
        settings.connector_acks
        if settings.connector_acks == "all"
        else int(settings.connector_acks)
    )
    compression = settings.connector_compression_type
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
        client_id=settings.connector_id,
        acks=acks,
        enable_idempotence=settings.connector_acks == "all",
        compression_type=None if compression == "none" else compression,
        linger_ms=settings.connector_linger_ms,
        batch_size=settings.connector_batch_size_bytes,
        retries=2_147_483_647,
        delivery_timeout_ms=settings.connector_delivery_timeout_ms,
        request_timeout_ms=settings.connector_request_timeout_ms,
        partitioner=KeyHashCachingPartitioner(),
    )


class ReadingPublisher:
    """Publishes readings and machine registry entries, keyed by machine id.

    A delivery error that is not retriable leaves kafka-python's idempotent producer
    failing every later record too, so it marks the producer broken and
    :meth:`recover` replaces it with a new one from ``producer_factory``.
    """

    def __init__(self, *, producer_factory: Callable[[], Any], topics: TopicNames) -> None:
        self._factory = producer_factory
        self._topics = topics
        self._producer: Any = None
        self._generation = 0
        self._broken = threading.Event()
        self.stats = PublishStats()

    async def start(self) -> None:
        """Build the producer and learn the partitions of both topics (blocking calls run
        in a worker thread), so later sends neither block nor wait for metadata."""
        producer = await asyncio.to_thread(self._factory)
        try:
            for topic in (self._topics.readings, self._topics.machines):
                await asyncio.to_thread(producer.partitions_for, topic)
        except BaseException:
            await asyncio.to_thread(producer.close, 0)
            raise
        self._producer = producer
        self._generation += 1

    def publish_reading(self, reading: Reading) -> None:
        """Buffer one reading for the readings topic; never blocks on delivery."""
        self._send(self._topics.readings, reading.key(), reading.encode(), reading.machine_id)

    def publish_command_result(self, result: CommandResult) -> None:
        """Buffer one command outcome for the command-results topic."""
        self._send(self._topics.command_results, result.key(), result.encode(), result.machine_id)

    def publish_machine(self, info: MachineInfo) -> None:
        """Buffer one registry entry for the machines topic."""
        self._send(self._topics.machines, info.key(), info.encode(), info.machine_id)

    def _send(self, topic: str, key: bytes, value: bytes, machine_id: str) -> None:
        try:
            future = self._producer.send(topic, key=key, value=value)
        except KafkaError as exc:
            self.stats.add(failed=1)
            logger.error(
                "produce refused topic=%s machine_id=%s size_bytes=%d error=%r failed=%d",
                topic,
                machine_id,
                len(value),
                exc,
                self.stats.failed,
            )
            return
        self.stats.add(sent=1)
        future.add_callback(self._on_delivered)
        future.add_errback(self._on_failed, topic, machine_id, self._generation)

    def _on_delivered(self, _metadata: object) -> None:
        self.stats.add(delivered=1)

    def _on_failed(self, topic: str, machine_id: str, generation: int, exc: BaseException) -> None:
        self.stats.add(failed=1)
        if generation == self._generation and not getattr(exc, "retriable", False):
            self._broken.set()
        logger.error(
            "delivery failed topic=%s machine_id=%s error=%r failed=%d",
            topic,
            machine_id,
            exc,
            self.stats.failed,
        )

    @property
    def broken(self) -> bool:
        """Whether a non-retriable delivery error has left the producer unusable."""
        return self._broken.is_set()

    async def recover(self) -> None:
        """Replace a broken producer; its undelivered records fail and are counted.

        Until the new producer is up, sends are refused (and counted) by the closed one.
        """
        if not self.broken:
            return
        logger.warning("replacing kafka producer after a non-retriable delivery error")
        await asyncio.to_thread(self._producer.close, 0)
        await self.start()
        self._broken.clear()

    async def flush(self, *, timeout_s: float) -> None:
        """Wait until every buffered record is delivered or has failed."""
        await asyncio.to_thread(self._producer.flush, timeout_s)

    async def close(self, *, timeout_s: float) -> None:
        await asyncio.to_thread(self._producer.close, timeout_s)


async def open_publisher(
    settings: ConnectorSettings, *, stop: asyncio.Event, retry_s: float = 5.0
) -> ReadingPublisher | None:
    """Connect to Kafka, retrying until it answers; ``None`` if ``stop`` is set first."""
    publisher = ReadingPublisher(
        producer_factory=functools.partial(build_kafka_producer, settings),
        topics=settings.topics,
    )
    attempt = 0
    while not stop.is_set():
        attempt += 1
        try:
            await publisher.start()
        except KafkaError as exc:
            logger.warning(
                "kafka not reachable bootstrap=%s attempt=%d error=%r retry_in_s=%.0f",
                settings.kafka_bootstrap_servers,
                attempt,
                exc,
                retry_s,
            )
            await sleep_unless_stopped(stop, retry_s)
            continue
        logger.info(
            "kafka connected bootstrap=%s readings_topic=%s machines_topic=%s",
            settings.kafka_bootstrap_servers,
            settings.topics.readings,
            settings.topics.machines,
        )
        return publisher
    return None
