"""The readings reader: the readings this worker owns, read for the alarm engine alone, at a
position of its own, so that alarms never wait for storage.

Faust's consumer reads the readings for storage (line protocol, windows, InfluxDB), and
its position may move only as fast as InfluxDB accepts batches: when InfluxDB is slow or
stopped, consumption pauses, by design. Alarms must not pause with it. This reader is a
second aiokafka consumer in the same process:

- It follows the assignment of Faust's consumer group: it reads exactly the readings
  partitions whose alarm state this worker owns, and only while no rebalance or table
  recovery is under way.
- Each fetch goes straight to :meth:`AlarmProcessor.process`, which publishes the events
  and stores the machine states (durably) before it returns.
- Its offsets are committed to a group of their own (``<app id>-alarms``), only for
  readings whose state is durable. A partition it takes over starts at that group's
  committed offset; a partition the alarm group never committed starts at the storage
  group's committed offset (a worker upgraded from the time alarms were evaluated on the
  storage path), else at the earliest offset. An alarms-only worker has no storage group:
  its Faust group commits readings it only moved past, never evaluated.
- Starting early is harmless: the engine skips a reading no newer than the last one it
  evaluated for the machine, so a replay publishes nothing twice. Starting late would
  lose transitions, which is why the commit follows the state.
- When Faust revokes partitions, :meth:`ReadingsReader.revoke` waits for the batch being
  evaluated, commits, and stops reading them before the new owner recovers their state.

Records that do not decode are skipped here: the storage path dead-letters them, once.
The readings decoded here are left for the storage path (:mod:`pipeline.storage.decoded_cache`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.readings import Reading, decode_reading
from contracts.timefmt import now_ms
from kafka_edge.aio_clients import aio_admin, aio_consumer
from kafka_edge.connection import KafkaConnection
from pipeline.storage.decoded_cache import DecodedReadings

logger = logging.getLogger(__name__)

# How long one fetch waits on the broker when there is nothing new (the reader also looks
# at the assignment between fetches).
FETCH_WAIT_MS = 100
# The storage path counts as working, unless it waits on InfluxDB, while it took from the
# shared cache this recently; while it works, a reader with no room in the cache looks
# again this often.
STORAGE_IDLE_S = 2.0
ROOM_POLL_S = 0.002
# How often processed offsets are committed, at most (a revoke commits at once).
COMMIT_EVERY_S = 1.0


class Evaluator(Protocol):
    async def process(self, readings: list[Reading], now_ms: int) -> Any:
        """Evaluate readings in order; return once their state is durable."""


def alarm_group_id(app_id: str) -> str:
    return f"{app_id}-alarms"


def decode_for_alarms(records: Collection[Any]) -> list[tuple[int, Reading]]:
    """``(offset, reading)`` of the ``records`` that decode; the others are skipped."""
    decoded: list[tuple[int, Reading]] = []
    for record in records:
        value = record.value
        if value is None:
            continue
        try:
            decoded.append((record.offset, decode_reading(value)))
        except Exception:  # noqa: S112 - dead-lettered, with the reason, by the storage path
            continue
    return decoded


class ReadingsReader:
    """One per worker; run :meth:`run` as a task, and call :meth:`revoke` from the
    consumer's revocation hook."""

    def __init__(
        self,
        *,
        kafka: KafkaConnection,
        topic: str,
        app_id: str,
        evaluator: Evaluator,
        owned: Callable[[], Collection[TopicPartition]],
        stable: Callable[[], bool],
        fetch_max_bytes: int,
        max_records: int,
        share: DecodedReadings | None = None,
        storage_group: str | None = None,
    ) -> None:
        """``storage_group``: the consumer group whose committed offsets a partition the
        alarm group never committed starts from (None: from the earliest offset)."""
        self._storage_group = storage_group
        # Where the readings decoded here are left for the storage path.
        self._share = share
        self._kafka = kafka
        self._topic = topic
        self._app_id = app_id
        self._evaluator = evaluator
        # The readings partitions this worker owns now, and whether the assignment is
        # settled (no rebalance, no table recovery under way).
        self._owned = owned
        self._stable = stable
        self._fetch_max_bytes = fetch_max_bytes
        self._max_records = max_records
        self._lock = asyncio.Lock()
        self._assigned: set[TopicPartition] = set()
        # Per partition: the next offset to evaluate, and the last one committed.
        self._position: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self.readings_evaluated = 0
        self.lag_records = 0

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        consumer = aio_consumer(
            self._kafka,
            group_id=alarm_group_id(self._app_id),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_WAIT_MS,
            max_partition_fetch_bytes=self._fetch_max_bytes,
        )
        await consumer.start()
        self._consumer = consumer
        last_commit = asyncio.get_running_loop().time()
        try:
            while True:
                if not self._stable():
                    await asyncio.sleep(0.05)
                    continue
                wanted = {
                    TopicPartition(tp.topic, tp.partition)
                    for tp in self._owned()
                    if tp.topic == self._topic
                }
                if wanted != self._assigned:
                    await self._reassign(consumer, wanted)
                if not self._assigned:
                    await asyncio.sleep(0.1)
                    continue
                partitions = await self._storage_first()
                fetched = await consumer.getmany(
                    *partitions, timeout_ms=FETCH_WAIT_MS, max_records=self._max_records
                )
                if fetched:
                    await self._evaluate(fetched)
                self._note_lag(consumer)
                now = asyncio.get_running_loop().time()
                if now - last_commit >= COMMIT_EVERY_S:
                    last_commit = now
                    async with self._lock:
                        await self._commit(consumer)
        finally:
            self._consumer = None
            await consumer.stop()

    def _note_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Records known to wait (the broker's high watermarks are as old as the last
        fetch)."""
        lag = 0
        for tp, position in self._position.items():
            highwater = consumer.highwater(tp)
            if highwater is not None and highwater > position:
                lag += highwater - position
        self.lag_records = lag

    async def alarms_first(self) -> None:
        """For the storage path, between slices of its work: one turn of the event loop,
        in which the reader, when it has work ready, runs first, up to its next wait on
        the broker (the next fetch, or the acknowledgement of the alarm state). The
        storage path uses the time the reader spends waiting; it never waits itself, as
        it did while the reader was behind (up to 50 ms a slice, which idled the worker
        and capped storage at 500 readings per 50 ms while alarms caught up)."""
        await asyncio.sleep(0)

    async def _storage_first(self) -> list[TopicPartition]:
        """The partitions to fetch from next: while the storage path is working (it does
        not wait on InfluxDB, and it took from the shared cache in the last
        STORAGE_IDLE_S), those whose readings kept in the cache leave room for a fetch
        (each partition has an equal share); every assigned one otherwise.

        Catching up on a backlog, the reader and the storage path read the partitions in
        different orders, and the reader, the faster one, runs ahead: without this it
        fills the cache with the partitions the storage path reaches last, or runs past
        what the cache holds, and the storage path decodes the same records a second time.
        When no partition has room, the reader waits for the storage path to take some,
        as long as it is working: the reader never waits while the storage path waits on
        InfluxDB, and a storage path that stops for any other reason holds it back by
        STORAGE_IDLE_S at most."""
        assigned = sorted(self._assigned)
        share = self._share
        if share is None:
            return assigned
        quota = max(share.partition_share(len(assigned)) - self._max_records, 0)
        while share.storage_working(STORAGE_IDLE_S):
            room = [tp for tp in assigned if share.kept(tp.topic, tp.partition) <= quota]
            if room:
                return room
            await asyncio.sleep(ROOM_POLL_S)
        return assigned

    async def _evaluate(self, fetched: Mapping[TopicPartition, list[Any]]) -> None:
        async with self._lock:
            # Partitions revoked while the fetch was under way are not ours any more.
            batches = [(tp, records) for tp, records in fetched.items() if tp in self._assigned]
            readings: list[Reading] = []
            done: dict[TopicPartition, int] = {}
            for tp, records in batches:
                position = self._position.get(tp)
                if position is None or not records or records[-1].offset < position:
                    continue
                if records[0].offset < position:
                    # Fetched before a seek back to this partition's position.
                    records = [r for r in records if r.offset >= position]
                decoded = decode_for_alarms(records)
                readings += [reading for _, reading in decoded]
                if self._share is not None:
                    self._keep(tp, decoded)
                done[tp] = records[-1].offset + 1
            if readings:
                await self._evaluator.process(readings, now_ms())
                self.readings_evaluated += len(readings)
            self._position.update(done)

    def _keep(self, tp: TopicPartition, decoded: list[tuple[int, Reading]]) -> None:
        """Leave ``decoded`` for the storage path, up to the partition's share of the cache
        (so that the partition read first does not take the room of the others)."""
        share = self._share
        if share is None:
            return
        room = share.partition_share(len(self._assigned)) - share.kept(tp.topic, tp.partition)
        if room > 0:
            share.put(tp.topic, tp.partition, decoded[:room])

    # -- assignment --------------------------------------------------------------------

    async def revoke(self, revoked: Collection[Any]) -> None:
        """Stop reading ``revoked`` partitions: after the batch being evaluated, commit."""
        gone = {TopicPartition(tp.topic, tp.partition) for tp in revoked}
        async with self._lock:
            if not gone & self._assigned:
                return
            consumer = self._consumer
            if consumer is not None:
                await self._commit(consumer)
            self._assigned -= gone
            self._forget(gone)
            if consumer is not None:
                consumer.assign(sorted(self._assigned))
            logger.info(
                "readings reader released partitions=%s", sorted(tp.partition for tp in gone)
            )

    def _forget(self, gone: set[TopicPartition]) -> None:
        for tp in gone:
            self._position.pop(tp, None)
            self._committed.pop(tp, None)
            if self._share is not None:
                self._share.forget(tp.topic, tp.partition)

    async def _reassign(self, consumer: AIOKafkaConsumer, wanted: set[TopicPartition]) -> None:
        async with self._lock:
            if not self._stable():
                return
            gone = self._assigned - wanted
            if gone:
                await self._commit(consumer)
            new = wanted - self._assigned
            consumer.assign(sorted(wanted))
            self._assigned = set(wanted)
            self._forget(gone)
            if not new:
                return
            starts = await self._start_offsets(consumer, new)
            for tp, offset in starts.items():
                consumer.seek(tp, offset)
                self._position[tp] = offset
                self._committed[tp] = offset
            logger.info(
                "readings reader took partitions=%s from offsets=%s",
                sorted(tp.partition for tp in new),
                [starts[tp] for tp in sorted(new)],
            )

    async def _start_offsets(
        self, consumer: AIOKafkaConsumer, tps: set[TopicPartition]
    ) -> dict[TopicPartition, int]:
        starts: dict[TopicPartition, int] = {}
        for tp in tps:
            committed = await consumer.committed(tp)
            if committed is not None and committed >= 0:
                starts[tp] = committed
        missing = tps - starts.keys()
        if missing and self._storage_group is not None:
            storage = await self._storage_committed(self._storage_group, missing)
            starts.update(storage)
            missing -= storage.keys()
        if missing:
            starts.update(await consumer.beginning_offsets(sorted(missing)))
        return starts

    async def _storage_committed(
        self, group: str, tps: set[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """The storage group's committed offsets for ``tps`` (where it has any)."""
        admin = aio_admin(self._kafka)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group, partitions=list(tps))
        finally:
            await admin.close()
        return {
            TopicPartition(tp.topic, tp.partition): meta.offset
            for tp, meta in offsets.items()
            if meta is not None and meta.offset >= 0
        }

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the positions of evaluated readings (their state is durable)."""
        due = {
            tp: offset
            for tp, offset in self._position.items()
            if tp in self._assigned and self._committed.get(tp) != offset
        }
        if not due:
            return
        try:
            await consumer.commit(due)
        except Exception as exc:  # the next commit carries the same or later offsets
            logger.warning("readings reader commit failed partitions=%d error=%r", len(due), exc)
            return
        self._committed.update(due)
