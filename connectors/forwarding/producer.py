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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError

from connectors.config.settings import ConnectorSettings
from contracts.topics import TopicNames
from kafka_edge.connection import KafkaConnection, ProducerSettings, parse_acks
from kafka_edge.records import Record
from kafka_edge.retry import RetryPolicy, RetryStopped, retry_async
from kafka_edge.sync_clients import kafka_producer

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


# Until Kafka answers at start-up: 1 s, doubling to 5 s, jittered; no deadline, since
# the spool holds the readings meanwhile.
CONNECT_RETRY = RetryPolicy(initial_s=1.0, max_s=5.0)


def producer_settings(settings: ConnectorSettings) -> ProducerSettings:
    """The connector's acks, compression and linger."""
    return ProducerSettings(
        acks=parse_acks(settings.connector_acks),
        compression=settings.connector_compression_type,
        linger_ms=settings.connector_linger_ms,
    )


# kafka-python's ``send()`` blocks its caller for up to ``max_block_ms`` (60 s by default)
# while it knows no partitions for the topic, as when a restarted broker still answers
# metadata with errors. The forwarder sends on the event loop, which polls the devices: it
# waits one second at most, and a record not sent stays in the spool and is sent again.
FORWARDER_MAX_BLOCK_MS = 1_000


def build_kafka_producer(settings: ConnectorSettings, **tuning: Any) -> Any:
    """A ``KafkaProducer`` tuned for readings; blocks until the cluster answers. ``tuning``
    overrides kafka-python options (``max_block_ms``)."""
    return kafka_producer(
        KafkaConnection.from_settings(settings),
        producer_settings(settings),
        client_id=settings.connector_id,
        batch_size=settings.connector_batch_size_bytes,
        delivery_timeout_ms=settings.connector_delivery_timeout_ms,
        request_timeout_ms=settings.connector_request_timeout_ms,
        **tuning,
    )


class ReadingPublisher:
    """The connector's :class:`~kafka_edge.records.Publisher` of machine registry entries
    and command results (readings go through the spool and the forwarder).

    :meth:`enqueue` only buffers and never waits; :meth:`publish` also waits for the
    broker's acknowledgement. Either way every record is counted in :attr:`stats`.

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

    def enqueue(self, topic: str, records: Sequence[Record]) -> list[Any]:
        """Buffer ``records`` for ``topic``; never blocks on delivery. Returns the
        kafka-python futures of the records the producer took (a refused one, e.g. larger
        than ``max_request_size``, is counted and logged)."""
        futures = []
        for record in records:
            future = self._send(topic, record)
            if future is not None:
                futures.append(future)
        return futures

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Produce ``records`` and wait until the broker acknowledged each; raises the
        first :class:`KafkaError` (a refused record raises ``KafkaError`` too)."""
        futures = self.enqueue(topic, records)
        if len(futures) < len(records):
            raise KafkaError(f"topic {topic}: {len(records) - len(futures)} records refused")
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(_awaitable(loop, future) for future in futures))

    def _send(self, topic: str, record: Record) -> Any:
        key = record.key.decode(errors="replace") if record.key is not None else None
        size = len(record.value) if record.value is not None else 0
        try:
            future = self._producer.send(topic, key=record.key, value=record.value)
        except KafkaError as exc:
            self.stats.add(failed=1)
            logger.error(
                "produce refused topic=%s machine_id=%s size_bytes=%d error=%r failed=%d",
                topic,
                key,
                size,
                exc,
                self.stats.failed,
            )
            return None
        self.stats.add(sent=1)
        future.add_callback(self._on_delivered)
        future.add_errback(self._on_failed, topic, key, self._generation)
        return future

    def _on_delivered(self, _metadata: object) -> None:
        self.stats.add(delivered=1)

    def _on_failed(
        self, topic: str, machine_id: str | None, generation: int, exc: BaseException
    ) -> None:
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


def _awaitable(loop: asyncio.AbstractEventLoop, future: Any) -> asyncio.Future[None]:
    """An asyncio future settled when kafka-python's ``future`` is (on its sender thread)."""
    settled: asyncio.Future[None] = loop.create_future()

    def settle(exc: BaseException | None) -> None:
        if settled.done():
            return
        if exc is None:
            settled.set_result(None)
        else:
            settled.set_exception(exc)

    future.add_callback(lambda _metadata: loop.call_soon_threadsafe(settle, None))
    future.add_errback(lambda exc: loop.call_soon_threadsafe(settle, exc))
    return settled


async def open_publisher(
    settings: ConnectorSettings, *, stop: asyncio.Event, retry: RetryPolicy = CONNECT_RETRY
) -> ReadingPublisher | None:
    """Connect to Kafka, retrying until it answers; ``None`` if ``stop`` is set first."""
    publisher = ReadingPublisher(
        producer_factory=functools.partial(build_kafka_producer, settings),
        topics=settings.topics,
    )

    def log_retry(exc: BaseException, attempt: int, pause_s: float) -> None:
        logger.warning(
            "kafka not reachable bootstrap=%s attempt=%d error=%r retry_in_s=%.1f",
            settings.kafka_bootstrap_servers,
            attempt,
            exc,
            pause_s,
        )

    try:
        await retry_async(
            publisher.start,
            policy=retry,
            what="kafka connect",
            retry_on=(KafkaError,),
            stop=stop,
            on_retry=log_retry,
        )
    except RetryStopped:
        return None
    logger.info(
        "kafka connected bootstrap=%s readings_topic=%s machines_topic=%s",
        settings.kafka_bootstrap_servers,
        settings.topics.readings,
        settings.topics.machines,
    )
    return publisher
