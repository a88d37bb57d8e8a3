"""Which tags are ``stale``: no fresh value within their interval.

A tag is *refreshed* when a scan of its group completes: the device answered, whether
with a value (``good``) or with an exception (``bad``); either way the reading that
follows tells the truth about the tag now. A tag is *stale* when its group's scan is
late by more than one whole interval, i.e. no scan of it completed within
twice ``interval_s`` of the last one (the first deadline starts when polling starts).
That happens when a slow group (a slow device, ``pause_between_requests_ms``, a long
block) or a command write holds the device's connection while a faster group waits.

A tag left out of a reading by its deadband is not stale: it was read and did not move
(its heartbeat bounds how long a consumer waits for it). If its group is not read, it
goes stale like any other tag, so an overdue heartbeat of a group that is late shows up
as ``stale``. A device that stops answering is ``comm_loss``, not ``stale``: the poller
does not report staleness during an outage.

Each staleness episode is reported once; the next completed scan of the tag ends it. How
it is reported (the last good value marked ``stale`` at once, or the late scan's own
reading marked ``stale``) is the poller's choice (:mod:`connectors.modbus.poller`). Pure:
the caller passes the times.

:meth:`StaleTracker.newly_stale` is called often (every 10 ms for a 20 ms interval), so
the tracker keeps the earliest time any unreported tag can go stale (``next_ms``) and
answers before it without looking at the tags; the watchdog reads it to skip the check.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping


class StaleTracker:
    """Remembers when each tag was last refreshed and which are reported stale."""

    __slots__ = ("_interval_ms", "_refreshed_ms", "_reported", "next_ms")

    def __init__(self, intervals_s: Mapping[str, float], *, start_ms: int) -> None:
        self._interval_ms = {name: interval_s * 1000 for name, interval_s in intervals_s.items()}
        self._refreshed_ms = dict.fromkeys(intervals_s, start_ms)
        self._reported: set[str] = set()
        # No unreported tag goes stale before this (a lower bound, exact after a check).
        self.next_ms: float = start_ms + 2 * min(self._interval_ms.values(), default=math.inf)

    def refreshed(
        self, names: Collection[str], *, now_ms: int, interval_s: float | None = None
    ) -> None:
        """A scan of ``names`` completed at ``now_ms``; their staleness (if any) ends.
        ``interval_s``: the interval all of ``names`` share (a scan group's), if known."""
        if not names:
            return
        self._refreshed_ms.update(dict.fromkeys(names, now_ms))
        if self._reported:
            self._reported.difference_update(names)
        if interval_s is None:
            soonest = now_ms + 2 * min(map(self._interval_ms.__getitem__, names))
        else:
            soonest = now_ms + 2 * (interval_s * 1000)
        if soonest < self.next_ms:
            self.next_ms = soonest

    def restart(self, *, now_ms: int) -> None:
        """Start every deadline again (after an outage, reported as ``comm_loss``)."""
        self.refreshed(list(self._refreshed_ms), now_ms=now_ms)

    def newly_stale(self, *, now_ms: int) -> list[str]:
        """The tags stale at ``now_ms`` that were not reported yet; they count as
        reported from now on, until refreshed."""
        if now_ms <= self.next_ms:
            return []
        out = []
        next_ms = math.inf
        for name, last_ms in self._refreshed_ms.items():
            if name in self._reported:
                continue
            deadline_ms = last_ms + 2 * self._interval_ms[name]
            if now_ms > deadline_ms:
                out.append(name)
                self._reported.add(name)
            else:
                next_ms = min(next_ms, deadline_ms)
        self.next_ms = next_ms
        return out

    @property
    def stale(self) -> frozenset[str]:
        """The tags reported stale and not refreshed since."""
        return frozenset(self._reported)
