"""The base of the API's stores: one compacted topic kept in memory, and written to.

Each store (machines, thresholds, alarms, API keys, users, maintenance) owns a table that
``apply``\\ s records in offset order; this base reads the topic into it at start-up,
follows it, and writes records so that this replica sees its own write at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from api.kafka.compacted import ApplyRecord, CompactedTopicReader
from api.kafka.producer import KafkaPublisher
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record


class CompactedStore:
    """``apply`` gets every record of ``topic``: first to its end, then as they come."""

    def __init__(
        self,
        *,
        kafka: KafkaConnection,
        topic: str,
        publisher: KafkaPublisher | None,
        apply: ApplyRecord,
    ) -> None:
        self.topic = topic
        self._publisher = publisher
        self._apply = apply
        self._reader = CompactedTopicReader(kafka=kafka, topic=topic, apply=apply)

    async def start(self, *, timeout_s: float) -> None:
        """Return once every record present at start-up has been applied."""
        await self._reader.start(timeout_s=timeout_s)

    async def stop(self) -> None:
        await self._reader.stop()

    @property
    def publisher(self) -> KafkaPublisher:
        if self._publisher is None:
            raise RuntimeError(f"store of {self.topic}: started without a publisher")
        return self._publisher

    async def write(self, records: Sequence[Record]) -> None:
        """Produce records (a ``None`` value: tombstone), wait for Kafka's ack, then apply
        them here (read your own write). Raises ``BrokerUnavailableError``."""
        if not records:
            return
        await self.publisher.publish(self.topic, records)
        for record in records:
            self._apply(record.key, record.value)
