"""The readings reader's bookkeeping: which fetched records reach the engine, and where each
partition goes on from. (Its Kafka edge runs in the pipeline's integration tests.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition

from contracts.readings import Reading
from kafka_edge.connection import KafkaConnection
from pipeline.alarms import readings_reader
from pipeline.alarms.readings_reader import ReadingsReader, decode_for_alarms
from pipeline.storage.decoded_cache import DecodedReadings

TOPIC = "readings"
P0 = TopicPartition(TOPIC, 0)
P1 = TopicPartition(TOPIC, 1)


@dataclass
class Record:
    offset: int
    value: bytes | None


def record(offset: int, machine: str = "m1", temperature: float = 20.0) -> Record:
    reading = Reading(
        machine_id=machine, ts_ms=1_000 + offset, values={"temperature_c": temperature}
    )
    return Record(offset, reading.encode())


class Engine:
    def __init__(self) -> None:
        self.batches: list[list[Reading]] = []

    async def process(self, readings: list[Reading], now_ms: int) -> None:
        self.batches.append(list(readings))


def reader(engine: Engine, share: DecodedReadings | None = None) -> ReadingsReader:
    r = ReadingsReader(
        kafka=KafkaConnection.plain("127.0.0.1:9"),
        topic=TOPIC,
        app_id="app",
        evaluator=engine,
        owned=lambda: [P0, P1],
        stable=lambda: True,
        fetch_max_bytes=1 << 20,
        max_records=100,
        share=share,
    )
    r._assigned = {P0, P1}
    r._position = {P0: 10, P1: 0}
    return r


def test_undecodable_records_are_skipped_not_raised() -> None:
    good = record(1)
    decoded = decode_for_alarms([Record(0, None), Record(1, b"{"), good, Record(3, b"[]")])
    assert [(offset, r.ts_ms) for offset, r in decoded] == [(1, 1_001)]


def test_fetched_records_reach_the_engine_in_order_and_positions_move_on() -> None:
    engine = Engine()
    r = reader(engine)
    asyncio.run(r._evaluate({P0: [record(10), record(11)], P1: [record(0, "m2")]}))
    assert [[x.ts_ms for x in b] for b in engine.batches] == [[1_010, 1_011, 1_000]]
    assert r._position == {P0: 12, P1: 1}
    assert r.readings_evaluated == 3


def test_records_before_the_position_are_dropped_and_a_gap_is_accepted() -> None:
    engine = Engine()
    r = reader(engine)
    # P0: a fetch from before a seek back to 10; P1: offsets 0-4 are gone (retention).
    asyncio.run(r._evaluate({P0: [record(8), record(9), record(10)], P1: [record(5, "m2")]}))
    assert [x.ts_ms for x in engine.batches[0]] == [1_010, 1_005]
    assert r._position == {P0: 11, P1: 6}


def test_a_revoked_partition_is_not_evaluated_and_forgets_its_position() -> None:
    engine = Engine()
    r = reader(engine)
    asyncio.run(r.revoke([P1]))
    asyncio.run(r._evaluate({P0: [record(10)], P1: [record(0, "m2")]}))
    assert [x.machine_id for x in engine.batches[0]] == ["m1"]
    assert r._assigned == {P0} and P1 not in r._position


def test_decoded_readings_are_left_for_the_storage_path() -> None:
    share = DecodedReadings()
    r = reader(Engine(), share)
    asyncio.run(r._evaluate({P0: [record(10), record(11)]}))
    assert share.take(TOPIC, 0, 11).ts_ms == 1_011  # 10 is dropped on the way
    assert len(share) == 0
    asyncio.run(r._evaluate({P1: [record(0, "m2")]}))
    asyncio.run(r.revoke([P1]))
    assert len(share) == 0


class NeverCommitted:
    """The alarm group's consumer of a first start: nothing committed yet."""

    async def committed(self, tp: TopicPartition) -> int | None:
        return None

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)


def test_without_a_storage_group_new_partitions_start_at_the_earliest_offset() -> None:
    """An alarms-only worker's own Faust group commits readings it only moved past: the
    reader must not start after them (it would never evaluate them)."""
    r = reader(Engine())
    # No admin client is asked (its broker, 127.0.0.1:9, would not answer).
    starts = asyncio.run(r._start_offsets(NeverCommitted(), {P0, P1}))  # type: ignore[arg-type]
    assert starts == {P0: 0, P1: 0}


def shared_with(kept: dict[TopicPartition, int]) -> DecodedReadings:
    """A cache of 400 readings (200 a partition: room for a fetch of 100 up to 100 kept)."""
    share = DecodedReadings(max_readings=400)
    for tp, count in kept.items():
        share.put(tp.topic, tp.partition, [(i, reading_at(i)) for i in range(count)])
    return share


def reading_at(offset: int) -> Reading:
    return Reading(machine_id="m1", ts_ms=1_000 + offset, values={"temperature_c": 1.0})


def test_while_the_storage_path_works_only_partitions_with_room_in_the_cache_are_fetched() -> None:
    share = shared_with({P0: 101, P1: 100})
    r = reader(Engine(), share)
    share.take(TOPIC, 5, 0)  # the storage path at work (on another partition)
    assert asyncio.run(r._storage_first()) == [P1]


def test_a_storage_path_that_does_not_work_never_holds_the_reader_back() -> None:
    """Nothing taken from the cache lately (InfluxDB away, say): every partition is
    fetched, full cache or not; and every one without a cache."""
    assert asyncio.run(reader(Engine(), shared_with({P0: 150, P1: 150}))._storage_first()) == [
        P0,
        P1,
    ]
    assert asyncio.run(reader(Engine())._storage_first()) == [P0, P1]


def test_with_no_room_the_reader_waits_for_the_storage_path_while_it_works() -> None:
    share = shared_with({P0: 150, P1: 150})
    r = reader(Engine(), share)
    share.take(TOPIC, 0, 0)
    order: list[str] = []

    async def storage() -> None:
        for offset in range(1, 60):  # takes P0 down to 90 kept
            await asyncio.sleep(0.001)
            share.take(TOPIC, 0, offset)
            order.append("storage")

    async def alarms() -> list[TopicPartition]:
        fetch = await r._storage_first()
        order.append("fetch")
        return fetch

    async def both() -> list[TopicPartition]:
        fetch, _ = await asyncio.gather(alarms(), storage())
        return fetch

    assert asyncio.run(both()) == [P0]
    assert order.index("fetch") >= 49


def test_with_no_room_the_reader_never_waits_while_the_storage_path_waits_on_influxdb() -> None:
    share = shared_with({P0: 150, P1: 150})
    share.take(TOPIC, 1, 0)
    share.storage_blocked = True
    assert asyncio.run(reader(Engine(), share)._storage_first()) == [P0, P1]


def test_with_no_room_and_a_storage_path_that_stops_the_reader_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(readings_reader, "STORAGE_IDLE_S", 0.1)
    share = shared_with({P0: 150, P1: 150})
    r = reader(Engine(), share)
    share.take(TOPIC, 1, 0)  # then nothing more

    async def fetch() -> tuple[list[TopicPartition], float]:
        started = asyncio.get_running_loop().time()
        partitions = await asyncio.wait_for(r._storage_first(), timeout=2.0)
        return partitions, asyncio.get_running_loop().time() - started

    partitions, waited_s = asyncio.run(fetch())
    assert partitions == [P0, P1]
    assert 0.05 <= waited_s <= 0.5
