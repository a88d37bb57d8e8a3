"""The readings reader's bookkeeping: which fetched records reach the engine, and where each
partition goes on from. (Its Kafka edge runs in the pipeline's integration tests.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import TopicPartition

from contracts.readings import Reading
from kafka_edge.connection import KafkaConnection
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
