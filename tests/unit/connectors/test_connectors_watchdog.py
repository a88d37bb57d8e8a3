"""One staleness watchdog for many pollers: each is checked, a failing one spares the rest."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.modbus.watchdog import mono_ms, watch_staleness


@dataclass
class _FakePoller:
    machine_id: str
    shortest_interval_s: float = 0.02
    fail: bool = False
    stale_due_ms: float = 0
    checks: int = 0
    clocks: list[int | None] = field(default_factory=list)
    device: Any = field(init=False)

    def __post_init__(self) -> None:
        self.device = SimpleNamespace(machine_id=self.machine_id)

    def check_staleness(self, *, log: bool = True, now_ms: int | None = None) -> list[str]:
        self.checks += 1
        self.clocks.append(now_ms)
        if self.fail:
            raise RuntimeError("boom")
        return []


def test_every_poller_is_checked_even_after_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    pollers = [_FakePoller("a"), _FakePoller("b", fail=True), _FakePoller("c")]

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        await asyncio.wait_for(watch_staleness(pollers, stop), timeout=5)

    asyncio.run(main())
    # every 20 ms for 200 ms: about 10 checks each, whatever the middle one does
    assert all(4 <= p.checks <= 12 for p in pollers)
    assert pollers[0].checks == pollers[2].checks
    assert "staleness check failed machine_id=b" in caplog.text


def test_the_period_follows_the_shortest_interval() -> None:
    pollers = [_FakePoller("a", shortest_interval_s=1.0), _FakePoller("b", 0.2)]

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.55, stop.set)
        await asyncio.wait_for(watch_staleness(pollers, stop), timeout=5)

    asyncio.run(main())
    # every 100 ms (half of 0.2 s) for 0.55 s
    assert 4 <= pollers[0].checks <= 6


def test_a_poller_is_not_checked_before_its_staleness_is_due() -> None:
    ahead = _FakePoller("ahead", stale_due_ms=mono_ms() + 60_000)
    due = _FakePoller("due", stale_due_ms=mono_ms())

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        await asyncio.wait_for(watch_staleness([ahead, due], stop), timeout=5)

    asyncio.run(main())
    assert ahead.checks == 0
    assert due.checks >= 4


def test_no_pollers_returns_at_once() -> None:
    asyncio.run(asyncio.wait_for(watch_staleness([], asyncio.Event()), timeout=1))


@dataclass
class _StalePoller:
    machine_id: str
    names: list[str]
    shortest_interval_s: float = 0.02
    stale_due_ms: float = 0
    device: Any = field(init=False)

    def __post_init__(self) -> None:
        self.device = SimpleNamespace(
            machine_id=self.machine_id, source=f"modbus://x/{self.machine_id}"
        )

    def check_staleness(self, *, log: bool = True, now_ms: int | None = None) -> list[str]:
        assert not log  # the shared watchdog logs
        names, self.names = self.names, []
        return names


def test_devices_going_stale_in_one_sweep_are_logged_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pollers = [_StalePoller(f"m{i}", ["temperature_c"]) for i in range(12)]
    pollers.append(_StalePoller("quiet", []))

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, stop.set)
        await asyncio.wait_for(watch_staleness(pollers, stop), timeout=5)

    with caplog.at_level("WARNING", logger="connectors.modbus.watchdog"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "tags stale" in r.getMessage()]
    assert lines == [
        "tags stale machines=12 sensors="
        + " ".join(f"m{i}:temperature_c" for i in range(10))
        + " (+2 more machines)"
    ]


def test_one_sweep_reads_the_clock_once_for_every_poller() -> None:
    pollers = [_FakePoller(str(i)) for i in range(50)]

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, stop.set)
        await asyncio.wait_for(watch_staleness(pollers, stop), timeout=5)

    asyncio.run(main())
    sweeps = pollers[0].clocks
    assert sweeps and all(isinstance(t, int) for t in sweeps)
    assert all(p.clocks == sweeps for p in pollers)
