"""sleep_unless_stopped: short sleeps are plain sleeps, long ones end when stop is set."""

from __future__ import annotations

import asyncio
import time

from connectors.lifecycle import SHORT_SLEEP_S, sleep_unless_stopped


def test_short_sleep_sleeps_and_reports_a_stop_set_meanwhile() -> None:
    async def main() -> tuple[bool, float]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.01, stop.set)
        started = time.perf_counter()
        stopped = await sleep_unless_stopped(stop, 0.05)
        return stopped, time.perf_counter() - started

    stopped, elapsed_s = asyncio.run(main())
    assert stopped
    assert 0.04 <= elapsed_s < SHORT_SLEEP_S + 0.5


def test_long_sleep_ends_when_stop_is_set() -> None:
    async def main() -> tuple[bool, float]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        started = time.perf_counter()
        stopped = await sleep_unless_stopped(stop, 30.0)
        return stopped, time.perf_counter() - started

    stopped, elapsed_s = asyncio.run(main())
    assert stopped
    assert elapsed_s < 5.0


def test_sleep_without_stop_returns_false_after_the_delay() -> None:
    async def main() -> tuple[bool, bool, float]:
        stop = asyncio.Event()
        started = time.perf_counter()
        short = await sleep_unless_stopped(stop, 0.02)
        long = await sleep_unless_stopped(stop, SHORT_SLEEP_S + 0.05)
        return short, long, time.perf_counter() - started

    short, long, elapsed_s = asyncio.run(main())
    assert not short and not long
    assert elapsed_s >= 0.02 + SHORT_SLEEP_S + 0.05 - 0.01


def test_already_stopped_returns_at_once() -> None:
    async def main() -> bool:
        stop = asyncio.Event()
        stop.set()
        return await sleep_unless_stopped(stop, 30.0)

    started = time.perf_counter()
    assert asyncio.run(main())
    assert time.perf_counter() - started < 1.0
