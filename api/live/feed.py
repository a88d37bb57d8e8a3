"""The Kafka consumers per API process that feed the live hub.

No consumer group: every API replica must see every record, so the feed assigns itself
all partitions of the readings, aggregates and alarms topics and starts at their end (a
live view has no use for history). Readings of machines nobody watches are skipped by key
before they are decoded.

Alarm events have a consumer of their own. A consumer keeps one fetch in flight to a
broker and hands out what a fetch brought before it asks again, so in a consumer shared
with the readings an event waited for the readings fetch under way and then for every
reading fetched before it to be dispatched (behind a backlog of readings, all of it). The
alarms consumer's fetch waits at the broker and returns as soon as an event is written, and
the readings consumer yields to it every few hundred records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from api.kafka.partitions import topic_partitions
from api.live.hub import LiveHub
from api.live.protocol import format_cursor
from contracts.aggregates import decode_aggregate
from contracts.alarms import AlarmEvent, decode_alarm
from contracts.errors import ContractError
from contracts.readings import decode_reading
from kafka_edge.aio_clients import aio_consumer
from kafka_edge.connection import KafkaConnection
from kafka_edge.retry import RetryPolicy, retry_async

logger = logging.getLogger(__name__)


class ReplayTooLongError(Exception):
    """More missed alarm events than one replay sends."""

    def __init__(self, max_events: int) -> None:
        super().__init__(f"cursor: more than {max_events} missed alarm events")


_LOG_EVERY_INVALID = 1000
# Records handed out per fetch call: readings and aggregates come in thousands a second,
# alarm events a few at a time.
_DATA_BATCH = 5000
_ALARM_BATCH = 500
# A failed fetch: 0.5 s, doubling to 5 s, jittered; never gives up (clients stay
# connected and get frames again once Kafka answers).
FETCH_RETRY = RetryPolicy(initial_s=0.5, max_s=5.0)


class LiveFeed:
    def __init__(
        self,
        *,
        kafka: KafkaConnection,
        readings_topic: str,
        alarms_topic: str,
        hub: LiveHub,
        aggregates_topic: str | None = None,
    ) -> None:
        self._kafka = kafka
        self._readings_topic = readings_topic
        self._alarms_topic = alarms_topic
        self._aggregates_topic = aggregates_topic
        # Per partition of the alarms topic: the offset of the next event to dispatch.
        self.alarm_positions: dict[int, int] = {}
        # Per (topic, partition): the offset of the next record to read, for the lag.
        self._next_offsets: dict[tuple[str, int], int] = {}
        self._hub = hub
        self._consumers: list[AIOKafkaConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.invalid_records = 0
        self._yield_every = max(1, min(256, hub.queue_frames // 4))

    def _groupless_consumer(self, client_id: str, *, from_offset: str) -> AIOKafkaConsumer:
        """A consumer that assigns partitions itself: no group, nothing committed."""
        return aio_consumer(
            self._kafka,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset=from_offset,
        )

    async def start(self, *, timeout_s: float) -> None:
        data_topics = [self._readings_topic]
        if self._aggregates_topic is not None:
            data_topics.append(self._aggregates_topic)
        try:
            data = await self._assigned("millstream-api-live", data_topics, timeout_s=timeout_s)
            alarms = await self._assigned(
                "millstream-api-live-alarms", [self._alarms_topic], timeout_s=timeout_s
            )
        except BaseException:
            await self.stop()
            raise
        self._tasks = [
            asyncio.create_task(self._run(data, "readings", _DATA_BATCH), name="live-feed"),
            asyncio.create_task(self._run(alarms, "alarms", _ALARM_BATCH), name="live-feed-alarms"),
        ]
        logger.info(
            "live feed started readings=%s alarms=%s partitions=%d",
            self._readings_topic,
            self._alarms_topic,
            len(self._next_offsets),
        )

    async def _assigned(
        self, client_id: str, topics: list[str], *, timeout_s: float
    ) -> AIOKafkaConsumer:
        """A started consumer of every partition of ``topics``, at their end."""
        consumer = self._groupless_consumer(client_id, from_offset="latest")
        await consumer.start()
        self._consumers.append(consumer)
        partitions = await topic_partitions(self._kafka, topics, timeout_s=timeout_s)
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            position = await consumer.position(tp)  # resolve "end" now
            self._next_offsets[(tp.topic, tp.partition)] = position
            if tp.topic == self._alarms_topic:
                self.alarm_positions[tp.partition] = position
        return consumer

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            await consumer.stop()

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def _run(self, consumer: AIOKafkaConsumer, what: str, max_records: int) -> None:
        while True:
            batches = await retry_async(
                lambda: consumer.getmany(timeout_ms=1000, max_records=max_records),
                policy=FETCH_RETRY,
                what=f"live feed fetch ({what})",
                retry_on=(KafkaError,),
            )
            handled = 0
            for records in batches.values():
                for record in records:
                    self.dispatch(record)
                    handled += 1
                    if handled % self._yield_every == 0:
                        # Let the clients' sender tasks (and the other consumer) run
                        # mid-batch, so a burst larger than a queue does not drop readings
                        # for fast clients and an alarm does not wait for the burst.
                        await asyncio.sleep(0)

    def lag(self) -> dict[str, int]:
        """Records not read yet, per topic, from the high watermarks the last fetches saw."""
        out: dict[str, int] = {}
        for consumer in self._consumers:
            for tp in consumer.assignment():
                highwater = consumer.highwater(tp)
                position = self._next_offsets.get((tp.topic, tp.partition))
                if highwater is None or position is None:
                    continue
                out[tp.topic] = out.get(tp.topic, 0) + max(0, highwater - position)
        return out

    def dispatch(self, record: ConsumerRecord) -> None:
        self._next_offsets[(record.topic, record.partition)] = record.offset + 1
        try:
            if record.topic == self._readings_topic:
                self._reading(record)
            elif record.topic == self._alarms_topic:
                self.alarm_positions[record.partition] = record.offset + 1
                self._alarm(record)
            elif record.topic == self._aggregates_topic:
                self._aggregate(record)
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
        self._hub.publish_alarm(event, format_cursor(self.alarm_positions))

    def _aggregate(self, record: ConsumerRecord) -> None:
        if record.key is not None and not self._hub.wants_aggregates(
            record.key.decode(errors="replace")
        ):
            return
        if record.value is None:
            return
        self._hub.publish_aggregate(decode_aggregate(record.value))

    async def replay_alarms(
        self, since: dict[int, int], until: dict[int, int], *, timeout_s: float, max_events: int
    ) -> list[tuple[AlarmEvent, str]]:
        """The alarm events from ``since`` up to (not including) ``until``, each with the
        cursor that follows it. A partition ``since`` does not name is not replayed; an
        offset before the earliest one kept starts at the earliest.
        """
        start = {p: min(since.get(p, end), end) for p, end in until.items()}
        wanted = {p: (o, until[p]) for p, o in start.items() if o < until[p]}
        if not wanted:
            return []
        consumer = self._groupless_consumer("millstream-api-live-replay", from_offset="earliest")
        await consumer.start()
        out: list[tuple[AlarmEvent, str]] = []
        try:
            tps = [TopicPartition(self._alarms_topic, p) for p in wanted]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, wanted[tp.partition][0])
            positions = dict(start)
            async with asyncio.timeout(timeout_s):
                while any(positions[p] < end for p, (_, end) in wanted.items()):
                    batches = await consumer.getmany(*tps, timeout_ms=500)
                    for tp, records in batches.items():
                        for record in records:
                            if record.offset >= until[tp.partition]:
                                break
                            positions[tp.partition] = record.offset + 1
                            if record.value is None:
                                continue
                            try:
                                event = decode_alarm(record.value)
                            except ContractError:
                                continue
                            out.append((event, format_cursor(positions)))
                            if len(out) > max_events:
                                raise ReplayTooLongError(max_events)
                    for tp in tps:
                        # a compacted or deleted stretch: the position jumps past it
                        positions[tp.partition] = max(
                            positions[tp.partition],
                            min(await consumer.position(tp), until[tp.partition]),
                        )
        finally:
            await consumer.stop()
        return out
