"""The alarm timer looks only at machines that are due, with the same events as a timer
that looks at every machine of the table on every tick."""

from __future__ import annotations

import asyncio
import random

import orjson

from alarmrules.actions import expire_shelves
from alarmrules.engine import EngineConfig, advance
from alarmrules.state import MachineState
from contracts.readings import Reading
from contracts.thresholds import Limit, SensorThresholds
from contracts.topics import TopicNames
from kafka_edge.retry import RetryPolicy
from pipeline.alarms.processor import AlarmProcessor
from pipeline.alarms.ruleset import RuleSet
from pipeline.due_queue import DueQueue
from pipeline.storage.dead_letter import SourceRecord

T0 = 1_766_241_000_000
TOPICS = TopicNames.with_prefix("t")
RULES = [
    SensorThresholds(
        machine_id="*",
        sensor="temperature_c",
        limits={
            "high": Limit(value=85, deadband=1, on_delay_s=3, off_delay_s=2),
            "low": Limit(value=10, realarm_delay_s=4),
        },
        stale_after_s=7,
    ),
    SensorThresholds(machine_id="*", sensor="pressure_bar", stale_after_s=12),
]


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, topic, records):
        self.sent.extend((topic, r.value) for r in records)


class CountingTable(dict):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    def get(self, key, default=None):
        self.gets += 1
        return super().get(key, default)


class ScanEveryMachine(AlarmProcessor):
    """The timer before the schedule: every machine of the table on every tick."""

    async def tick(self, now_ms: int):
        async with self.lock:
            loaded, states, events = {}, {}, []
            timer = self._timer
            for key in list(self._table.keys()):
                machine_id = key.decode()
                if not timer.owned(machine_id):
                    continue
                raw = self._table.get(key)
                clock = timer.clock_of(machine_id, raw, now_ms)
                state = MachineState.from_dict(machine_id, raw)
                new = []
                if clock is not None:
                    at_ms = clock[0] + max(0, now_ms - clock[1])
                    new += advance(state, at_ms, self._rules_for(machine_id), self.config)
                new += expire_shelves(state, now_ms)
                if new:
                    events += new
                    states[machine_id] = state
                    loaded[machine_id] = raw
            if events:
                await self._commit(states, loaded, events)
            return events


def build(cls, table=None, owns=None):
    ready = asyncio.Event()
    ready.set()
    return cls(
        table=table if table is not None else {},
        publisher=Recorder(),
        topics=TOPICS,
        rules=RuleSet(RULES),
        config=EngineConfig(comm_loss_after_ms=20_000),
        retry=RetryPolicy(initial_s=0.001, max_s=0.002),
        rules_ready=ready,
        owns=owns,
    )


def shelve(offset: int, machine: str, now: int) -> SourceRecord:
    body = {
        "action_id": f"a{offset}",
        "machine_id": machine,
        "sensor": "temperature_c",
        "rule": "high",
        "by": "op",
        "action": "shelve",
        "ts_ms": now,
        "shelve_until_ts_ms": now + 9_000,
    }
    return SourceRecord(
        key=machine.encode(), value=orjson.dumps(body), topic="a", partition=0, offset=offset
    )


def summary(events):
    return [(e.alarm_id, e.event, e.seq, e.ts_ms, e.state) for e in events]


async def test_the_schedule_gives_the_events_of_a_scan_of_every_machine_on_every_tick():
    rng = random.Random(7)
    machines = [f"m{i}" for i in range(12)]
    scheduled = build(AlarmProcessor, owns=lambda m: m != "m11")
    reference = build(ScanEveryMachine, owns=lambda m: m != "m11")
    ts = {m: T0 for m in machines}
    seen_events = 0
    for step in range(400):
        now = T0 + step * 250
        batch = []
        for m in rng.sample(machines, 3) if step % 4 == 0 and step < 300 else []:
            if m in ("m3", "m4") and step > 120:
                continue  # these fall silent: stale data, then comm loss
            ts[m] = max(ts[m] + rng.randint(200, 3_000), now - 500)
            values = {"temperature_c": rng.choice([5.0, 50.0, 84.5, 90.0])}
            if rng.random() < 0.7:
                values["pressure_bar"] = 2.0
            batch.append(Reading(machine_id=m, ts_ms=ts[m], values=values, plant="p"))
        for proc in (scheduled, reference):
            if batch:
                await proc.process(batch, now)
            if step % 37 == 5:
                await proc.handle_action(
                    shelve(step, random.Random(step).choice(machines), now), now
                )
        got, want = await scheduled.tick(now), await reference.tick(now)
        assert summary(got) == summary(want), f"tick at step {step}"
        seen_events += len(want)
    assert seen_events > 20
    kinds = {
        orjson.loads(v)["alarm_id"].split(":", 1)[1]
        for topic, v in reference._publisher.sent
        if topic == TOPICS.alarms
    }
    assert {"temperature_c:stale", "machine:comm_loss", "temperature_c:high"} <= kinds


async def test_a_tick_reads_no_machine_when_none_is_due():
    table = CountingTable()
    proc = build(AlarmProcessor, table)
    readings = [
        Reading(machine_id=f"m{i}", ts_ms=T0, values={"temperature_c": 50.0, "pressure_bar": 1.0})
        for i in range(2_000)
    ]
    await proc.process(readings, T0)
    assert await proc.tick(T0 + 250) == []
    table.gets = 0
    for step in range(2, 20):
        assert await proc.tick(T0 + step * 250) == []
    assert table.gets == 0
    # Stale after 7 s of reading time: every machine is due then, once.
    events = await proc.tick(T0 + 7_000)
    assert len(events) == 2_000
    assert table.gets == 2_000


async def test_machines_found_in_the_table_are_silent_from_when_they_are_found():
    donor = build(AlarmProcessor)
    await donor.process([Reading(machine_id="7", ts_ms=T0, values={"pressure_bar": 1.0})], T0)
    table = dict(donor._table)
    proc = build(AlarmProcessor, table)
    found_at = T0 + 60_000
    assert await proc.tick(found_at) == []
    events = await proc.tick(found_at + 12_000)
    assert summary(events) == [
        ("7:pressure_bar:stale", "raised", 1, T0 + 12_000, "active_unacknowledged")
    ]


def test_due_queue_moves_keys_earlier_only_and_pops_each_once():
    queue: DueQueue[str] = DueQueue()
    queue.at_most("a", 50)
    queue.at_most("b", 10)
    queue.at_most("a", 70)
    queue.at_most("c", 30)
    queue.at_most("c", 5)
    assert queue.pop_due(20) == ["c", "b"]
    assert queue.pop_due(40) == []
    queue.discard("a")
    assert queue.pop_due(100) == [] and len(queue) == 0
    for i in range(5_000):
        queue.at_most("x", 10_000 - i)
    assert queue.pop_due(10_000) == ["x"]
