"""The window core: plain functions over one machine's JSON-ready window state.

Why not Faust's windowed tables: they keep one table entry per (key, window) and are
updated per event inside stream iteration (``table[key].current()`` needs the current
event), which is exactly the per-event machinery the chunked readings loop bypasses for
throughput. Here one machine's open windows of every kind live in one value of a plain
changelogged table (``pipeline.windows.stage``), updated once per chunk.

State of a machine::

    {"applied": <last readings offset applied>, "max_ts": <largest reading time seen>,
     "plant": .., "line": ..,
     "closed": {"1m": <end of the last closed window>, "5m_1m": ...},
     "panes": {"<pane start ms>": {"<sensor>": [count, sum, sumsq, min, max, last,
                                                last_ts]}}}

Readings are added to one *pane* each (the greatest common divisor of every window size
and step: one minute for the defaults), not to every window holding them: a 5-minute
window hopping every minute would otherwise take each reading five times. Statistics are
kept in a mergeable form (count, sum, sum of squares, min, max, and the value with the
latest time as ``last``), so a window is the merge of its panes when it closes.
A window ``[start, start + size)`` closes when ``until`` (the machine's reading time minus
grace, or the wall clock minus grace for a silent machine) reaches its end: it is emitted
once, and panes no window still open needs are dropped, so the state holds at most
``(largest size + grace) / pane + 1`` panes. A reading whose window has already closed is
late: it joins no pane and the caller dead-letters it with the reason. A reading at or
below ``applied`` was already applied before a restart and is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from contracts.aggregates import SensorStats, WindowAggregate, window_label
from contracts.readings import Reading

MachineWindows = dict[str, Any]


@dataclass(frozen=True)
class WindowSpec:
    size_ms: int
    step_ms: int

    @cached_property
    def label(self) -> str:
        return window_label(self.size_ms / 1000, self.step_ms / 1000)

    def starts(self, ts_ms: int) -> list[int]:
        """Starts of the windows holding ``ts_ms``, oldest first."""
        last = ts_ms - ts_ms % self.step_ms
        return [
            s
            for s in range(last - self.size_ms + self.step_ms, last + 1, self.step_ms)
            if s <= ts_ms < s + self.size_ms
        ]

    def last_end_until(self, until_ms: int) -> int:
        """End of the latest window ending at or before ``until_ms``."""
        return (until_ms - self.size_ms) // self.step_ms * self.step_ms + self.size_ms


def pane_ms(specs: Iterable[WindowSpec]) -> int:
    size = 0
    for spec in specs:
        size = math.gcd(size, math.gcd(spec.size_ms, spec.step_ms))
    return size


def new_state() -> MachineWindows:
    return {"applied": -1, "max_ts": None, "plant": "", "line": "", "closed": {}, "panes": {}}


def stats_of(raw: list[float]) -> SensorStats:
    count, total, sumsq, low, high, last, _last_ts = raw
    n = int(count)
    mean = total / n
    variance = max(sumsq / n - mean * mean, 0.0)
    return SensorStats(
        count=n, min=low, max=high, mean=mean, last=last, stddev=math.sqrt(variance), sum=total
    )


def _merge(into: dict[str, list[float]], sensors: dict[str, list[float]]) -> None:
    for name, s in sensors.items():
        t = into.get(name)
        if t is None:
            into[name] = list(s)
            continue
        t[0] += s[0]
        t[1] += s[1]
        t[2] += s[2]
        if s[3] < t[3]:
            t[3] = s[3]
        if s[4] > t[4]:
            t[4] = s[4]
        if s[6] >= t[6]:
            t[5] = s[5]
            t[6] = s[6]


def add_reading(
    state: MachineWindows, reading: Reading, offset: int, specs: Iterable[WindowSpec], pane: int
) -> str | None:
    """Add ``reading`` (at readings ``offset``) to its pane.

    Returns None when added or skipped as already applied, else the reason it is late.
    """
    if offset <= state["applied"]:
        return None
    state["applied"] = offset
    ts = reading.ts_ms
    closed = state["closed"]
    if closed:
        for spec in specs:
            closed_end = closed.get(spec.label)
            # A window holding ts ends after ts: none of them closed when ts is past the end.
            if closed_end is None or ts >= closed_end:
                continue
            # The earliest window holding ts ends first; closed if that end has passed.
            first = ts - ts % spec.step_ms - spec.size_ms + spec.step_ms
            while first + spec.size_ms <= ts:
                first += spec.step_ms
            if first + spec.size_ms <= closed_end:
                return (
                    f"window: reading at ts_ms={ts} is later than the grace period; its "
                    f"{spec.label} window [{first}, {first + spec.size_ms}) closed already "
                    f"(machine reading time {state['max_ts']})"
                )
    key = str(ts - ts % pane)
    sensors = state["panes"].get(key)
    if sensors is None:
        sensors = state["panes"][key] = {}
    for name, value in reading.values.items():
        # [count, sum, sumsq, min, max, last, last_ts], updated in place (inline: this runs
        # for every value of every reading).
        s = sensors.get(name)
        if s is None:
            sensors[name] = [1, value, value * value, value, value, value, ts]
            continue
        s[0] += 1
        s[1] += value
        s[2] += value * value
        if value < s[3]:
            s[3] = value
        if value > s[4]:
            s[4] = value
        if ts >= s[6]:
            s[5] = value
            s[6] = ts
    if state["max_ts"] is None or ts > state["max_ts"]:
        state["max_ts"] = ts
    if reading.plant:
        state["plant"] = reading.plant
    if reading.line:
        state["line"] = reading.line
    return None


def close_due(
    state: MachineWindows, machine_id: str, specs: Iterable[WindowSpec], *, until_ms: int
) -> list[WindowAggregate]:
    """Close and return every window ending at or before ``until_ms`` (reading time minus
    grace, or wall time minus grace) that holds data and was not closed before."""
    out: list[WindowAggregate] = []
    panes: dict[str, dict[str, list[float]]] = state["panes"]
    closed = state["closed"]
    specs = tuple(specs)
    if not panes:
        return out
    due = False
    for spec in specs:
        old_end = closed.get(spec.label)
        if old_end is None or spec.last_end_until(until_ms) > old_end:
            due = True
            break
    if not due:
        return out
    starts = sorted(int(k) for k in panes)
    for spec in specs:
        label = spec.label
        new_end = spec.last_end_until(until_ms)
        old_end = closed.get(label)
        if old_end is not None and new_end <= old_end:
            continue
        candidates: set[int] = set()
        for p in starts:
            for s in spec.starts(p):
                end = s + spec.size_ms
                if end <= new_end and (old_end is None or end > old_end):
                    candidates.add(s)
        for s in sorted(candidates):
            merged: dict[str, list[float]] = {}
            for p in starts:
                if s <= p < s + spec.size_ms:
                    _merge(merged, panes[str(p)])
            if merged:
                out.append(
                    WindowAggregate(
                        machine_id=machine_id,
                        window=label,
                        start_ms=s,
                        end_ms=s + spec.size_ms,
                        sensors={name: stats_of(raw) for name, raw in merged.items()},
                        plant=state["plant"],
                        line=state["line"],
                    )
                )
        closed[label] = new_end
    # Drop panes every kind of window is done with.
    for p in starts:
        if all(
            closed.get(spec.label) is not None
            and p - p % spec.step_ms + spec.size_ms <= closed[spec.label]
            for spec in specs
        ):
            del panes[str(p)]
    return out
