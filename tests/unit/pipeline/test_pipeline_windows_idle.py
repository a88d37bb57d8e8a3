"""The windows stage closes the windows of machines silent for the idle time: not before,
once each, and again for a machine whose windows were still open by the wall clock."""

from __future__ import annotations

from contracts.readings import Reading
from kafka_edge.retry import RetryPolicy
from pipeline.windows.core import WindowSpec
from pipeline.windows.stage import WindowsStage

WALL = 1_766_241_000_000
IDLE_MS = 30_000
SPECS = (WindowSpec(size_ms=60_000, step_ms=60_000),)


class Recorder:
    def __init__(self) -> None:
        self.records = []

    async def publish(self, topic, records):
        self.records += records


def stage(table) -> WindowsStage:
    return WindowsStage(
        table=table,
        specs=SPECS,
        grace_ms=5_000,
        idle_close_ms=IDLE_MS,
        publisher=Recorder(),
        aggregates_topic="aggregates",
        retry=RetryPolicy(initial_s=0.001, max_s=0.002),
    )


def reading(machine: str, ts_ms: int) -> Reading:
    return Reading(machine_id=machine, ts_ms=ts_ms, values={"power_kw": 1.5})


async def test_silent_machines_have_their_windows_closed_after_the_idle_time_only():
    table: dict = {}
    windows = stage(table)
    # Two minutes old readings: their one-minute windows are over by the wall clock.
    ts = WALL - 120_000
    machines = [f"m{i}" for i in range(500)]
    await windows.apply([reading(m, ts) for m in machines], list(range(500)), WALL)
    await windows.apply([reading("m7", ts + 1)], [500], WALL + 20_000)
    for second in range(IDLE_MS // 1000):
        assert await windows.close_idle(WALL + second * 1000) == []
    closed = await windows.close_idle(WALL + IDLE_MS)
    assert sorted(a.machine_id for a in closed) == sorted(set(machines) - {"m7"})
    assert all(not table[m.encode()]["panes"] for m in machines if m != "m7")
    assert await windows.close_idle(WALL + IDLE_MS + 19_000) == []
    [late] = await windows.close_idle(WALL + IDLE_MS + 20_000)
    assert (late.machine_id, late.sensors["power_kw"].count) == ("m7", 2)
    assert await windows.close_idle(WALL + 10 * IDLE_MS) == []


async def test_windows_still_open_by_the_wall_clock_are_closed_once_they_end():
    windows = stage({})
    end = WALL - WALL % 60_000 + 60_000
    await windows.apply([reading("m1", end - 1_000)], [0], WALL)
    assert await windows.close_idle(WALL + IDLE_MS) == []
    assert await windows.close_idle(end + 4_000) == []
    closed = await windows.close_idle(end + 5_000)
    assert [(a.machine_id, a.end_ms) for a in closed] == [("m1", end)]
    assert await windows.close_idle(end + 6_000) == []
