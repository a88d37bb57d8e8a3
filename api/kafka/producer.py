"""The API's one Kafka producer: acks from all in-sync replicas, idempotent, lz4 batches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from api.errors import BrokerUnavailableError
from kafka_edge.aio_clients import aio_producer
from kafka_edge.connection import KafkaConnection, ProducerSettings
from kafka_edge.records import Record

logger = logging.getLogger(__name__)


class KafkaPublisher:
    """The API's :class:`~kafka_edge.records.Publisher`: produces records and waits for
    the broker's acknowledgement.

    ``publish`` raises :class:`BrokerUnavailableError` when Kafka does not acknowledge
    within ``produce_timeout_s``; callers turn that into ``503`` with ``Retry-After``.
    """

    def __init__(
        self, *, kafka: KafkaConnection, produce_timeout_s: float, linger_ms: int = 0
    ) -> None:
        self._kafka = kafka
        self._timeout_s = produce_timeout_s
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        timeout_ms = int(self._timeout_s * 1000)
        producer = aio_producer(
            self._kafka,
            ProducerSettings(acks="all", compression="lz4", linger_ms=self._linger_ms),
            client_id="millstream-api",
            request_timeout_ms=timeout_ms,
        )
        await producer.start()
        self._producer = producer
        logger.info("kafka producer started bootstrap=%s", self._kafka.servers)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BrokerUnavailableError("kafka: the producer is not running")
        return self._producer

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Produce ``records`` in order and wait until all are acknowledged.

        A ``None`` value is a tombstone. Raises :class:`BrokerUnavailableError`. Not
        retried here: a request must not wait longer, so the client gets 503 with
        ``Retry-After`` and retries itself.
        """
        producer = self._started()
        try:
            async with asyncio.timeout(self._timeout_s):
                futures = [
                    await producer.send(topic, key=record.key, value=record.value)
                    for record in records
                ]
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError) as exc:
            logger.warning("produce failed topic=%s records=%d error=%r", topic, len(records), exc)
            raise BrokerUnavailableError(
                f"kafka: records not acknowledged within {self._timeout_s:g}s"
                f" ({type(exc).__name__})"
            ) from exc

    async def check(self, *, timeout_s: float) -> None:
        """Ask the cluster for its metadata; raise :class:`BrokerUnavailableError` if silent."""
        producer = self._started()
        try:
            async with asyncio.timeout(timeout_s):
                await producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError) as exc:
            logger.warning("kafka metadata check failed error=%r", exc)
            raise BrokerUnavailableError(
                f"kafka: no metadata answer ({type(exc).__name__})"
            ) from exc
