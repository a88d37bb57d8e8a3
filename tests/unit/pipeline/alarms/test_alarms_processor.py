"""The processor's edge with an in-memory table and publisher: order of publish and store,
state records, dead letters for refused actions, the timer, thresholds records."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from alarmrules.engine import EngineConfig
from contracts.alarm_state import decode_alarm_state
from contracts.alarms import decode_alarm
from contracts.readings import Reading
from contracts.thresholds import Limit, SensorThresholds
from contracts.topics import TopicNames
from kafka_edge.retry import RetryPolicy
from pipeline.alarms.metrics import AlarmMetrics
from pipeline.alarms.processor import AlarmProcessor
from pipeline.alarms.ruleset import RuleSet
from pipeline.alarms.thresholds_feed import apply_record
from pipeline.storage.dead_letter import SourceRecord

T0 = 1_766_241_000_000
TOPICS = TopicNames.with_prefix("t")


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.fail_first = fail_first

    async def publish(self, topic, records):
        if self.fail_first:
            self.fail_first -= 1
            raise OSError("broker away")
        self.sent.extend((topic, r.key, r.value) for r in records)

    def on(self, topic):
        return [(k, v) for t, k, v in self.sent if t == topic]


def processor(publisher, table=None, **kw) -> AlarmProcessor:
    ready = asyncio.Event()
    ready.set()
    return AlarmProcessor(
        table=table if table is not None else {},
        publisher=publisher,
        topics=TOPICS,
        config=kw.pop("config", EngineConfig(comm_loss_after_ms=None)),
        retry=RetryPolicy(initial_s=0.001, max_s=0.002),
        rules_ready=ready,
        **kw,
    )


def reading(value, i=0, machine="42"):
    return Reading(
        machine_id=machine,
        ts_ms=T0 + i * 1000,
        values={"temperature_c": value},
        plant="p1",
    )


async def test_events_and_state_records_are_published_then_the_state_stored():
    publisher = Recorder(fail_first=1)
    table: dict = {}
    proc = processor(publisher, table)
    events = await proc.process([reading(70), reading(90, 1), reading(91, 2)], now_ms=T0)
    assert [(e.event, e.seq) for e in events] == [("raised", 1)]
    assert [decode_alarm(v).event for _k, v in publisher.on(TOPICS.alarms)] == ["raised"]
    [(key, value)] = publisher.on(TOPICS.alarm_state)
    record = decode_alarm_state(value)
    assert key == b"42:temperature_c:high"
    assert (record.state, record.active, record.plant) == ("active_unacknowledged", True, "p1")
    assert table[b"42"]["alarms"]["temperature_c:high"]["seq"] == 1


async def test_the_stored_state_is_flushed_before_process_returns():
    order: list[str] = []

    class Table(dict):
        def __setitem__(self, key, value):
            order.append("store")
            super().__setitem__(key, value)

    class Publisher:
        async def publish(self, topic, records):
            order.append(f"publish {topic}")

    async def flush():
        order.append("flush")

    proc = processor(Publisher(), Table(), flush=flush)
    await proc.process([reading(90)], now_ms=T0)
    assert order == [f"publish {TOPICS.alarms}", f"publish {TOPICS.alarm_state}", "store", "flush"]


async def test_nothing_is_stored_when_publishing_is_cancelled():
    class Stuck:
        async def publish(self, topic, records):
            await asyncio.sleep(3600)

    table: dict = {}
    proc = processor(Stuck(), table)
    task = asyncio.create_task(proc.process([reading(90)], now_ms=T0))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert table == {}
    # Replayed: the same transition with the same seq.
    publisher = Recorder()
    again = await processor(publisher, table).process([reading(90)], now_ms=T0)
    assert [(e.alarm_id, e.event, e.seq) for e in again] == [("42:temperature_c:high", "raised", 1)]


def action_record(offset: int, **fields) -> SourceRecord:
    body = {
        "action_id": f"a{offset}",
        "machine_id": "42",
        "sensor": "temperature_c",
        "rule": "high",
        "by": "op",
        "ts_ms": T0 + 10_000 + offset,
        **fields,
    }
    return SourceRecord(
        key=b"42",
        value=orjson.dumps(body),
        topic=TOPICS.alarm_actions,
        partition=0,
        offset=offset,
    )


async def test_refused_and_malformed_actions_become_dead_letters_and_good_ones_apply():
    publisher = Recorder()
    proc = processor(publisher)
    assert await proc.handle_action(action_record(1, action="acknowledge"), T0) == []
    assert await proc.handle_action(action_record(2, action="dance"), T0) == []
    await proc.process([reading(90)], now_ms=T0)
    events = await proc.handle_action(action_record(3, action="acknowledge"), T0)
    assert [(e.event, e.state, e.by) for e in events] == [
        ("acknowledged", "active_acknowledged", "op")
    ]
    dead = [orjson.loads(v) for _k, v in publisher.on(TOPICS.dead_letter)]
    assert [d["stage"] for d in dead] == ["alarm_action", "alarm_action"]
    assert dead[0]["reason"] == (
        "acknowledge: alarm 42:temperature_c:high: unknown alarm on machine 42"
    )
    assert dead[1]["reason"].startswith("action: Input should be")
    assert dead[0]["source"]["offset"] == 1
    states = [decode_alarm_state(v).state for _k, v in publisher.on(TOPICS.alarm_state)]
    assert states == ["active_unacknowledged", "active_acknowledged"]


async def test_timer_expires_shelves_and_detects_silence_on_owned_machines_only():
    publisher = Recorder()
    table: dict = {}
    proc = processor(
        publisher,
        table,
        config=EngineConfig(comm_loss_after_ms=10_000),
        owns=lambda machine_id: machine_id != "99",
    )
    await proc.process([reading(90), reading(90, machine="99")], now_ms=T0)
    shelve = action_record(1, action="shelve", shelve_until_ts_ms=T0 + 15_000)
    assert [e.event for e in await proc.handle_action(shelve, T0)] == ["shelved"]
    assert await proc.tick(T0 + 4000) == []
    events = await proc.tick(T0 + 12_000)
    assert [(e.alarm_id, e.event, e.ts_ms) for e in events] == [
        ("42:machine:comm_loss", "raised", T0 + 10_000)
    ]
    events = await proc.tick(T0 + 16_000)
    assert [(e.alarm_id, e.event, e.state) for e in events] == [
        ("42:temperature_c:high", "unshelved", "active_unacknowledged")
    ]
    assert await proc.tick(T0 + 17_000) == []
    assert "99" not in {
        e.machine_id
        for _k, v in publisher.on(TOPICS.alarms)
        for e in [decode_alarm(v)]
        if e.rule == "comm_loss"
    }


async def test_readings_wait_for_the_thresholds_then_a_new_record_applies_at_once():
    publisher = Recorder()
    ready = asyncio.Event()
    proc = AlarmProcessor(
        table={},
        publisher=publisher,
        topics=TOPICS,
        rules=RuleSet(),
        config=EngineConfig(comm_loss_after_ms=None),
        rules_ready=ready,
        rules_wait_s=5,
    )
    task = asyncio.create_task(proc.process([reading(80)], now_ms=T0))
    await asyncio.sleep(0.05)
    assert not task.done()
    record = SensorThresholds(
        machine_id="42", sensor="temperature_c", limits={"high": Limit(value=75)}
    )
    assert apply_record(proc.rules, record.key(), record.encode()) is None
    ready.set()
    assert [(e.event, e.threshold) for e in await task] == [("raised", 75.0)]
    assert apply_record(proc.rules, b"42/temperature_c", b"") is None  # tombstone
    events = await proc.process([reading(79, 1)], now_ms=T0)
    assert [(e.event, e.message) for e in events] == [
        ("cleared", "temperature_c 79 back below 84.0 on machine 42")  # the default again
    ]
    assert "does not match" in (apply_record(proc.rules, b"7/temperature_c", record.encode()) or "")
    assert apply_record(proc.rules, b"nokey", b"{}") is not None


def test_flood_and_chattering_are_counted_once_per_episode():
    from contracts.alarms import AlarmEvent

    def raised(alarm: str, ts: int, plant: str = "p1") -> AlarmEvent:
        return AlarmEvent(
            alarm_id=alarm,
            event="raised",
            state="active_unacknowledged",
            machine_id="1",
            sensor="s",
            rule="high",
            severity="high",
            value=1,
            threshold=0,
            ts_ms=ts,
            message="",
            plant=plant,
        )

    metrics = AlarmMetrics()
    metrics.observe(raised(f"a{i}", T0 + i * 1000) for i in range(10))
    assert metrics.floods_total == 0
    metrics.observe(raised(f"a{i}", T0 + i * 1000) for i in range(10, 15))
    assert (metrics.floods_total, metrics.flooding) == (1, {"p1"})
    metrics.observe([raised("x", T0 + 700_000)])
    assert metrics.flooding == set()
    metrics.observe(raised("c", T0 + 800_000 + i * 10_000) for i in range(5))
    assert metrics.chattering_total == 1
    text = __import__("prometheus_client").generate_latest(metrics.registry).decode()
    assert 'millstream_alarm_floods_total{plant="p1"} 1.0' in text
    assert "millstream_alarm_chattering_total 1.0" in text


async def test_a_batch_cancelled_before_its_store_leaves_the_stored_state_to_the_next():
    class Switch(Recorder):
        stuck = False

        async def publish(self, topic, records):
            if self.stuck:
                await asyncio.sleep(3600)
            await super().publish(topic, records)

    publisher = Switch()
    proc = processor(publisher, {})
    assert [e.event for e in await proc.process([reading(90)], now_ms=T0)] == ["raised"]
    publisher.stuck = True
    task = asyncio.create_task(proc.process([reading(50, 1)], now_ms=T0 + 1000))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    publisher.stuck = False
    again = await proc.process([reading(50, 1)], now_ms=T0 + 1000)
    assert [(e.event, e.seq) for e in again] == [("cleared", 2)]
    assert [(e.event, e.seq) for e in await proc.process([reading(91, 2)], T0)] == [("raised", 3)]


async def test_batches_that_only_move_a_quiet_machines_clock_neither_rebuild_nor_delay_it(
    monkeypatch,
):
    """A machine with no alarm: batches that move only its clock are not written (less than
    5 s of reading time) and its state is not rebuilt from the table for the next batch;
    the timer still raises comm loss in time, though reading time ran ahead of wall time
    (a backlog) and the stored record stayed behind."""
    from alarmrules.state import MachineState

    table: dict = {}
    proc = processor(Recorder(), table, config=EngineConfig(comm_loss_after_ms=10_000))
    rebuilt: list[str] = []
    from_dict = MachineState.from_dict.__func__

    def counting(cls, machine_id, obj):
        rebuilt.append(machine_id)
        return from_dict(cls, machine_id, obj)

    monkeypatch.setattr(MachineState, "from_dict", classmethod(counting))
    await proc.process([reading(20, 0)], now_ms=T0)
    first = table[b"42"]
    rebuilt.clear()
    for i in range(1, 4):  # three batches, one second of reading time each, at once
        await proc.process([reading(20, i)], now_ms=T0 + 10)
    assert table[b"42"] is first
    assert rebuilt == []
    # Due then: 10 s after the last reading (T0 + 3 s), processed 2,990 ms ahead of wall time.
    events = await proc.tick(T0 + 10 + 10_000)
    assert [(e.alarm_id, e.event) for e in events] == [("42:machine:comm_loss", "raised")]


async def test_comm_loss_counts_from_the_last_reading_not_the_last_stored_clock():
    """Readings that only move a quiet machine's clock are stored every 5 s of reading time
    at most; the timer judges silence from the last reading all the same, so comm loss is
    neither early nor dated before that reading."""
    table: dict = {}
    proc = processor(Recorder(), table, config=EngineConfig(comm_loss_after_ms=10_000))
    await proc.process([reading(20, 0)], now_ms=T0)
    for i in range(1, 4):  # up to T0 + 3 s of reading time, processed at T0 + 10 ms
        await proc.process([reading(20, i)], now_ms=T0 + 10)
    assert table[b"42"]["last_ts_ms"] == T0  # the stored clock stayed behind
    # Reading time reaches T0 + 13 s (the last reading + 10 s) at wall T0 + 10,010 ms.
    assert await proc.tick(T0 + 10_009) == []
    events = await proc.tick(T0 + 10_010)
    assert [(e.alarm_id, e.event, e.ts_ms) for e in events] == [
        ("42:machine:comm_loss", "raised", T0 + 13_000)
    ]
    assert table[b"42"]["last_ts_ms"] == T0 + 3_000
