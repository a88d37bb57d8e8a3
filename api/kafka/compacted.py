"""Reading a compacted topic into memory: to its end at start-up, then following it.

Each API replica keeps its own copy, so no consumer group is used: the reader assigns
every partition to itself and seeks to the beginning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from api.errors import StartupError
from api.kafka.partitions import topic_partitions
from kafka_edge.aio_clients import aio_observer
from kafka_edge.connection import KafkaConnection
from kafka_edge.retry import RetryPolicy, retry_async

logger = logging.getLogger(__name__)

# Called with the record key and value (``None`` for a tombstone), in offset order.
ApplyRecord = Callable[[bytes | None, bytes | None], None]

# A failed fetch while following: 0.5 s, doubling to 5 s, jittered; never gives up (the
# copy in memory stays as it was meanwhile).
FOLLOW_RETRY = RetryPolicy(initial_s=0.5, max_s=5.0)


class CompactedTopicReader:
    """Feeds every record of one topic to ``apply``, first to the end, then as they come."""

    def __init__(self, *, kafka: KafkaConnection, topic: str, apply: ApplyRecord) -> None:
        self._kafka = kafka
        self.topic = topic
        self._apply = apply
        self._consumer: AIOKafkaConsumer | None = None
        self._follow: asyncio.Task[None] | None = None
        self.records_applied = 0

    async def start(self, *, timeout_s: float) -> None:
        """Return once every record present at start-up has been applied."""
        consumer = aio_observer(self._kafka, client_id=f"millstream-api-{self.topic}")
        await consumer.start()
        self._consumer = consumer
        try:
            await self._catch_up(consumer, timeout_s=timeout_s)
        except BaseException:
            await self.stop()
            raise
        self._follow = asyncio.create_task(self._follow_loop(consumer), name=f"follow:{self.topic}")

    async def _catch_up(self, consumer: AIOKafkaConsumer, *, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        partitions = await topic_partitions(self._kafka, [self.topic], timeout_s=timeout_s)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        while not await self._reached(consumer, end):
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"topic {self.topic!r}: not read to its end within {timeout_s:g}s"
                )
            batches = await consumer.getmany(*partitions, timeout_ms=500)
            self._apply_batches(batches)
        logger.info(
            "compacted topic loaded topic=%s records=%d partitions=%d",
            self.topic,
            self.records_applied,
            len(partitions),
        )

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
        for tp, offset in end.items():
            if await consumer.position(tp) < offset:
                return False
        return True

    def _apply_batches(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for records in batches.values():
            for record in records:
                try:
                    self._apply(record.key, record.value)
                except Exception:
                    logger.exception(
                        "record not applied topic=%s partition=%d offset=%d",
                        record.topic,
                        record.partition,
                        record.offset,
                    )
                self.records_applied += 1

    async def _follow_loop(self, consumer: AIOKafkaConsumer) -> None:
        def log_retry(exc: BaseException, attempt: int, pause_s: float) -> None:
            logger.log(
                logging.WARNING if isinstance(exc, KafkaError) else logging.ERROR,
                "follow failed topic=%s attempt=%d retry_in_s=%.2f error=%r",
                self.topic,
                attempt,
                pause_s,
                exc,
            )

        while True:
            batches = await retry_async(
                lambda: consumer.getmany(timeout_ms=1000),
                policy=FOLLOW_RETRY,
                what=f"follow {self.topic}",
                on_retry=log_retry,
            )
            self._apply_batches(batches)

    async def stop(self) -> None:
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
            self._follow = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
