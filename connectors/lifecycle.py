"""Stopping long-running loops: a shared ``stop`` event set by SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal


async def sleep_unless_stopped(stop: asyncio.Event, delay_s: float) -> bool:
    """Sleep ``delay_s`` seconds or until ``stop`` is set; return whether it is set."""
    if delay_s > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay_s)
    return stop.is_set()


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT or SIGTERM; call from inside the running loop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
