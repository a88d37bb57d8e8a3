import asyncio
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.aggregates import SensorStats
from contracts.readings import Reading
from pipeline.windows.core import WindowSpec, add_reading, close_due, new_state, pane_ms
from pipeline.windows.lines import aggregate_lines

TUMBLING = WindowSpec(size_ms=60_000, step_ms=60_000)
HOPPING = WindowSpec(size_ms=300_000, step_ms=60_000)
SPECS = (TUMBLING, HOPPING)
GRACE_MS = 5_000
PANE = pane_ms(SPECS)


def test_window_starts_hold_the_time():
    assert TUMBLING.starts(125_000) == [120_000]
    assert HOPPING.starts(125_000) == [-120_000, -60_000, 0, 60_000, 120_000]
    assert TUMBLING.label == "1m" and HOPPING.label == "5m_1m"


def run(readings):
    """Feed readings in order, closing as reading time advances; then close everything."""
    state = new_state()
    emitted, late = [], []
    for offset, r in enumerate(readings):
        before = state["max_ts"]
        reason = add_reading(state, r, offset, SPECS, PANE)
        if reason is not None:
            late.append((r, reason))
            continue
        if state["max_ts"] != before:
            emitted += close_due(state, "m1", SPECS, until_ms=state["max_ts"] - GRACE_MS)
            bound = (HOPPING.size_ms + GRACE_MS) // PANE + 2
            assert len(state["panes"]) <= bound
    emitted += close_due(state, "m1", SPECS, until_ms=10**15)
    return state, emitted, late


times = st.lists(
    st.tuples(st.integers(0, 900_000), st.floats(-1e3, 1e3, allow_nan=False)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(times)
def test_aggregates_equal_brute_force_and_each_window_is_emitted_once(points):
    readings = [Reading(machine_id="m1", ts_ms=t, values={"x": v}) for t, v in points]
    state, emitted, late = run(readings)
    keys = [(a.window, a.start_ms) for a in emitted]
    assert len(keys) == len(set(keys))
    assert state["panes"] == {}  # bounded: everything closed and dropped
    late_ids = {id(r) for r, _ in late}
    accepted = [(i, r) for i, r in enumerate(readings) if id(r) not in late_ids]
    for agg in emitted:
        spec = TUMBLING if agg.window == "1m" else HOPPING
        inside = [
            (i, r) for i, r in accepted if agg.start_ms <= r.ts_ms < agg.start_ms + spec.size_ms
        ]
        values = [r.values["x"] for _, r in inside]
        s = agg.sensors["x"]
        assert s.count == len(values)
        assert s.min == min(values) and s.max == max(values)
        assert s.mean == pytest.approx(sum(values) / len(values), abs=1e-6)
        assert s.sum == pytest.approx(sum(values), abs=1e-6)
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        assert s.stddev == pytest.approx(std, abs=1e-3)
        latest = max(r.ts_ms for _, r in inside)
        assert s.last in [r.values["x"] for _, r in inside if r.ts_ms == latest]
    # every accepted reading is in exactly one tumbling window
    assert sum(a.sensors["x"].count for a in emitted if a.window == "1m") == len(accepted)


def test_reading_later_than_grace_is_late_with_a_reason():
    readings = [
        Reading(machine_id="m1", ts_ms=10_000, values={"x": 1.0}),
        Reading(machine_id="m1", ts_ms=70_000, values={"x": 2.0}),  # closes [0, 60s)
        Reading(machine_id="m1", ts_ms=20_000, values={"x": 3.0}),  # late
    ]
    _state, emitted, late = run(readings)
    assert [r.ts_ms for r, _ in late] == [20_000]
    assert "later than the grace period" in late[0][1] and "1m window [0, 60000)" in late[0][1]
    first = next(a for a in emitted if a.window == "1m" and a.start_ms == 0)
    assert first.sensors["x"].count == 1


def test_replayed_offsets_are_not_counted_twice():
    state = new_state()
    r = Reading(machine_id="m1", ts_ms=1_000, values={"x": 1.0})
    assert add_reading(state, r, 7, SPECS, PANE) is None
    assert add_reading(state, r, 7, SPECS, PANE) is None
    assert state["panes"]["0"]["x"][0] == 1


def test_each_aggregate_line_carries_the_sum_of_its_values():
    readings = [
        Reading(machine_id="m1", ts_ms=t, values={"x": v}) for t, v in ((0, 1.5), (1, 2.25))
    ]
    _, emitted, _ = run(readings)
    minute = [a for a in emitted if a.window == "1m"]
    (line,) = aggregate_lines(minute)
    assert "count=2i," in line and line.endswith(",sum=3.75 0")
    # A record of a worker older than the field: its line still has a sum, mean x count.
    old = SensorStats(count=4, min=1.0, max=3.0, mean=2.5, last=3.0, stddev=0.5)
    (line,) = aggregate_lines([replace(minute[0], sensors={"x": old})])
    assert line.endswith(",sum=10 0")


class _Published:
    async def publish(self, topic, records):
        pass


def _stage(table):
    from kafka_edge.retry import RetryPolicy
    from pipeline.windows.stage import WindowsStage

    return WindowsStage(
        table=table,
        specs=SPECS,
        grace_ms=GRACE_MS,
        idle_close_ms=60_000,
        publisher=_Published(),
        aggregates_topic="aggregates",
        retry=RetryPolicy(initial_s=0.001, max_s=0.002),
    )


@settings(max_examples=100, deadline=None)
@given(times, st.integers(1, 20))
def test_the_stage_closes_what_closing_at_every_reading_closes(points, chunk):
    """The stage looks for due windows only when the reading time enters a new pane; what
    it closes, and when, is what closing at every new reading time closes."""
    readings = [Reading(machine_id="m1", ts_ms=t, values={"x": v}) for t, v in points]
    expected = []
    state = new_state()
    for offset, r in enumerate(readings):
        before = state["max_ts"]
        if add_reading(state, r, offset, SPECS, PANE) is None and state["max_ts"] != before:
            expected += close_due(state, "m1", SPECS, until_ms=state["max_ts"] - GRACE_MS)
    stage = _stage({})

    async def apply_in_chunks():
        lines = []
        for start in range(0, len(readings), chunk):
            part = readings[start : start + chunk]
            lines += await stage.apply(part, list(range(start, start + len(part))), 0)
        return lines

    assert asyncio.run(apply_in_chunks()) == aggregate_lines(expected)


class _Changelogged(dict):
    """A table whose changelog sends are futures the test settles: ``write_many`` records
    the keys written and returns one future per call."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.sends: list[asyncio.Future] = []

    def write_many(self, items, *, track=True):
        self.update(items)
        self.written += list(items)
        send = asyncio.get_running_loop().create_future()
        self.sends.append(send)
        return [send]


def test_a_failed_changelog_send_is_counted_and_its_machines_written_again():
    """``confirm(mark)`` returns once the changelog sends of every write up to the mark
    succeeded, without waiting for later writes; when one failed, the current state of the
    machines those writes carried is written again, and that write (and any before it) is
    waited for."""
    table = _Changelogged()
    stage = _stage(table)

    def reading(machine_id: str, i: int) -> Reading:
        return Reading(machine_id=machine_id, ts_ms=1_000 * i, values={"x": float(i)})

    async def scenario() -> None:
        await stage.apply([reading("m1", 0), reading("m2", 1)], [0, 1], 0)
        mark = stage.mark()
        await stage.apply([reading("m3", 2)], [2], 0)  # a later write, never settled here
        confirming = asyncio.create_task(stage.confirm(mark))
        await asyncio.sleep(0.01)
        assert not confirming.done()
        table.sends[0].set_exception(OSError("changelog send failed"))
        for _ in range(100):
            if len(table.sends) == 3:
                break
            await asyncio.sleep(0.01)
        assert sorted(table.written[3:]) == [b"m1", b"m2"]
        assert table[b"m1"]["max_ts"] == 0
        assert not confirming.done()
        table.sends[2].set_result(None)  # the states written again
        table.sends[1].set_result(None)  # the later write, which that one came after
        await asyncio.wait_for(confirming, timeout=5)

    asyncio.run(scenario())
    assert stage.changelog_failures == 1
