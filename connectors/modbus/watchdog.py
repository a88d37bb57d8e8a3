"""The staleness watchdog: one task that asks every poller for the tags that went stale.

The rule of when a tag is stale is :mod:`connectors.modbus.staleness`; each poller
publishes its own stale tags (:meth:`~connectors.modbus.poller.DevicePoller.check_staleness`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from connectors.config.devices import Device
from connectors.lifecycle import sleep_unless_stopped

logger = logging.getLogger(__name__)

# Devices named with their tags in one "tags stale" line of the shared watchdog.
_STALE_SHOWN = 10


class Watched(Protocol):
    """What the watchdog needs of a poller."""

    @property
    def device(self) -> Device: ...

    @property
    def shortest_interval_s(self) -> float: ...

    # No check can find anything before this monotonic ms (0: check every sweep).
    stale_due_ms: float

    def check_staleness(self, *, log: bool = True, now_ms: int | None = None) -> list[str]: ...


async def watch_staleness(pollers: Sequence[Watched], stop: asyncio.Event) -> None:
    """Every half of the shortest interval (at least every 20 ms), publish the tags of
    ``pollers`` that went stale, until ``stop`` is set.

    One task serves many pollers: a check is a few microseconds of pure computation
    (no I/O, so a slow device cannot hold it up), while a task per poller waking 50 times
    a second costs more in scheduling than in checking. A poller whose ``stale_due_ms``
    is still ahead is skipped without a call: nothing of it can have gone stale yet. An
    unexpected error for one poller is logged and the others are still checked. The
    devices that went stale in one sweep are logged in one line (under overload that is
    most of them, 50 times a second), each with its tags for the first ten.
    """
    if not pollers:
        return
    period_s = max(min(p.shortest_interval_s for p in pollers) / 2, 0.02)
    single = len(pollers) == 1
    while not await sleep_unless_stopped(stop, period_s):
        went_stale: list[tuple[Watched, list[str]]] = []
        now_ms = mono_ms()  # one clock read per sweep (checks take microseconds)
        for poller in pollers:
            if now_ms <= poller.stale_due_ms:
                continue
            try:
                names = poller.check_staleness(log=single, now_ms=now_ms)
            except Exception:
                logger.exception("staleness check failed machine_id=%s", poller.device.machine_id)
                continue
            if names and not single:
                went_stale.append((poller, names))
        if went_stale:
            _log_stale(went_stale)


def mono_ms() -> int:
    """The monotonic clock in whole milliseconds (staleness deadlines)."""
    return int(time.monotonic() * 1000)


def log_stale_tags(device: Device, names: Sequence[str]) -> None:
    """The line for one device whose tags went stale."""
    logger.warning(
        "tags stale machine_id=%s source=%s sensors=%s",
        device.machine_id,
        device.source,
        ",".join(names),
    )


def _log_stale(went_stale: Sequence[tuple[Watched, list[str]]]) -> None:
    """One line for the devices that went stale in one sweep (the first ten in full)."""
    if len(went_stale) == 1:
        poller, names = went_stale[0]
        log_stale_tags(poller.device, names)
        return
    shown = " ".join(f"{p.device.machine_id}:{','.join(n)}" for p, n in went_stale[:_STALE_SHOWN])
    more = len(went_stale) - _STALE_SHOWN
    logger.warning(
        "tags stale machines=%d sensors=%s%s",
        len(went_stale),
        shown,
        f" (+{more} more machines)" if more > 0 else "",
    )
