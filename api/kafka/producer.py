"""The API's one Kafka producer: acks from all in-sync replicas, idempotent, lz4 batches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from api.errors import BrokerUnavailableError

logger = logging.getLogger(__name__)

Record = tuple[bytes, bytes | None]


class KafkaPublisher:
    """Produces records and waits for the broker's acknowledgement.

    ``send_many`` raises :class:`BrokerUnavailableError` when Kafka does not acknowledge
    within ``produce_timeout_s``; callers turn that into ``503`` with ``Retry-After``.
    """

    def __init__(
        self, *, bootstrap_servers: str, produce_timeout_s: float, linger_ms: int = 0
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._timeout_s = produce_timeout_s
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        timeout_ms = int(self._timeout_s * 1000)
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id="millstream-api",
            acks="all",
            enable_idempotence=True,
            compression_type="lz4",
            linger_ms=self._linger_ms,
            request_timeout_ms=timeout_ms,
        )
        await producer.start()
        self._producer = producer
        logger.info("kafka producer started bootstrap=%s", self._bootstrap_servers)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BrokerUnavailableError("kafka: the producer is not running")
        return self._producer

    async def send_many(self, topic: str, records: Sequence[Record]) -> None:
        """Produce ``(key, value)`` records in order and wait until all are acknowledged.

        A ``None`` value is a tombstone. Raises :class:`BrokerUnavailableError`.
        """
        producer = self._started()
        try:
            async with asyncio.timeout(self._timeout_s):
                futures = [
                    await producer.send(topic, key=key, value=value) for key, value in records
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
