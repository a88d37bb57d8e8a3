"""Stopping long-running loops: a shared ``stop`` event set by SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal

# Sleeps up to this long are plain ``asyncio.sleep``: a stop is noticed when they end.
SHORT_SLEEP_S = 0.1


async def sleep_unless_stopped(stop: asyncio.Event, delay_s: float) -> bool:
    """Sleep ``delay_s`` seconds or until ``stop`` is set; return whether it is set.

    A sleep of at most :data:`SHORT_SLEEP_S` is not cut short by ``stop`` (it is noticed
    when the sleep ends, at most 100 ms later): a poller at 50 Hz sleeps 50 times a
    second, and waiting on the event with a timeout costs about 4 times as much CPU as a
    plain sleep (``asyncio.wait_for`` wraps the wait in a task of its own and cancels it).
    """
    if delay_s <= 0 or stop.is_set():
        return stop.is_set()
    if delay_s <= SHORT_SLEEP_S:
        await asyncio.sleep(delay_s)
        return stop.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay_s)
    return stop.is_set()


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT or SIGTERM; call from inside the running loop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
