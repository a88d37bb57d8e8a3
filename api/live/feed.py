"""The one Kafka consumer per API process that feeds the live hub.

No consumer group: every API replica must see every record, so the feed assigns itself
all partitions of the readings and alarms topics and starts at their end (a live view
has no use for history). Readings of machines nobody watches are skipped by key before
they are decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError

from api.kafka.partitions import topic_partitions
from api.live.hub import LiveHub
from contracts.alarms import decode_alarm
from contracts.errors import ContractError
from contracts.readings import decode_reading

logger = logging.getLogger(__name__)

_LOG_EVERY_INVALID = 1000


class LiveFeed:
    def __init__(
        self, *, bootstrap_servers: str, readings_topic: str, alarms_topic: str, hub: LiveHub
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._readings_topic = readings_topic
        self._alarms_topic = alarms_topic
        self._hub = hub
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.invalid_records = 0
        self._yield_every = max(1, min(256, hub.queue_frames // 4))

    async def start(self, *, timeout_s: float) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            client_id="millstream-api-live",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        await consumer.start()
        self._consumer = consumer
        try:
            partitions = await topic_partitions(
                self._bootstrap_servers,
                [self._readings_topic, self._alarms_topic],
                timeout_s=timeout_s,
            )
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:
                await consumer.position(tp)  # resolve "end" now, not at the first fetch
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._run(consumer), name="live-feed")
        logger.info(
            "live feed started readings=%s alarms=%s partitions=%d",
            self._readings_topic,
            self._alarms_topic,
            len(partitions),
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            except KafkaError as exc:
                logger.warning("live feed fetch failed error=%r; retrying", exc)
                await asyncio.sleep(1.0)
                continue
            handled = 0
            for records in batches.values():
                for record in records:
                    self.dispatch(record)
                    handled += 1
                    if handled % self._yield_every == 0:
                        # Let the clients' sender tasks drain their queues mid-batch, so a
                        # burst larger than a queue does not drop readings for fast clients.
                        await asyncio.sleep(0)

    def dispatch(self, record: ConsumerRecord) -> None:
        try:
            if record.topic == self._readings_topic:
                self._reading(record)
            elif record.topic == self._alarms_topic:
                self._alarm(record)
        except ContractError as exc:
            self.invalid_records += 1
            if self.invalid_records % _LOG_EVERY_INVALID == 1:
                logger.warning(
                    "live feed skipped invalid record topic=%s partition=%d offset=%d "
                    "error=%s invalid_total=%d",
                    record.topic,
                    record.partition,
                    record.offset,
                    exc,
                    self.invalid_records,
                )
        except Exception:
            logger.exception(
                "live feed failed on record topic=%s partition=%d offset=%d",
                record.topic,
                record.partition,
                record.offset,
            )

    def _reading(self, record: ConsumerRecord) -> None:
        if record.key is not None and not self._hub.wants(record.key.decode(errors="replace")):
            return
        if record.value is None:
            return
        self._hub.publish_reading(decode_reading(record.value))

    def _alarm(self, record: ConsumerRecord) -> None:
        if record.value is None:
            return
        event = decode_alarm(record.value)
        if self._hub.wants(event.machine_id):
            self._hub.publish_alarm(event)
