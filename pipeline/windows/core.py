"""The window core: plain functions over one machine's JSON-ready window state.

Why not Faust's windowed tables: they keep one table entry per (key, window) and are
updated per event inside stream iteration (``table[key].current()`` needs the current
event), which is exactly the per-event machinery the chunked readings loop bypasses for
throughput. Here one machine's open windows of every kind live in one value of a plain
changelogged table (``pipeline.windows.stage``), updated once per chunk.

State of a machine::

    {"applied": <last readings offset applied>, "max_ts": <largest reading time seen>,
     "plant": .., "line": ..,
     "closed": {"1m": <end of the last closed window>, ...},
     "open": {"1m": {"<start ms>": {"<sensor>": [count, sum, sumsq, min, max, last,
                                                 last_ts]}}}}

Statistics are kept in a mergeable form (count, sum, sum of squares, min, max, and the
value with the latest time as ``last``). A window ``[start, start + size)`` closes when
the machine's reading time passes ``end + grace`` (or, for a silent machine, when the wall
clock does): it is emitted once and dropped from the state, so the state holds at most
``size / step + grace / step + 1`` windows per kind. A reading whose window has already
closed is late: it joins no window and the caller dead-letters it with the reason.
A reading at or below ``applied`` was already applied before a restart and is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from contracts.aggregates import SensorStats, WindowAggregate, window_label
from contracts.readings import Reading

MachineWindows = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WindowSpec:
    size_ms: int
    step_ms: int

    @property
    def label(self) -> str:
        return window_label(self.size_ms / 1000, self.step_ms / 1000)

    def starts(self, ts_ms: int) -> list[int]:
        """Starts of the windows holding ``ts_ms``, oldest first."""
        last = ts_ms - ts_ms % self.step_ms
        first = last - self.size_ms + self.step_ms
        return [
            s
            for s in range(max(first, last - self.size_ms + 1), last + 1, self.step_ms)
            if s <= ts_ms < s + self.size_ms
        ]


def new_state() -> MachineWindows:
    return {"applied": -1, "max_ts": None, "plant": "", "line": "", "closed": {}, "open": {}}


def stats_of(raw: list[float]) -> SensorStats:
    count, total, sumsq, low, high, last, _last_ts = raw
    n = int(count)
    mean = total / n
    variance = max(sumsq / n - mean * mean, 0.0)
    return SensorStats(count=n, min=low, max=high, mean=mean, last=last, stddev=math.sqrt(variance))


def _add_value(sensors: dict[str, list[float]], name: str, value: float, ts_ms: int) -> None:
    s = sensors.get(name)
    if s is None:
        sensors[name] = [1, value, value * value, value, value, value, ts_ms]
        return
    s[0] += 1
    s[1] += value
    s[2] += value * value
    if value < s[3]:
        s[3] = value
    if value > s[4]:
        s[4] = value
    if ts_ms >= s[6]:
        s[5] = value
        s[6] = ts_ms


def add_reading(
    state: MachineWindows, reading: Reading, offset: int, specs: Iterable[WindowSpec]
) -> str | None:
    """Add ``reading`` (at readings ``offset``) to its open windows.

    Returns None when added or skipped as already applied, else the reason it is late.
    """
    if offset <= state["applied"]:
        return None
    state["applied"] = offset
    ts = reading.ts_ms
    closed = state["closed"]
    targets = []
    for spec in specs:
        label = spec.label
        closed_end = closed.get(label)
        for start in spec.starts(ts):
            if closed_end is not None and start + spec.size_ms <= closed_end:
                return (
                    f"window: reading at ts_ms={ts} is later than the grace period; its "
                    f"{label} window [{start}, {start + spec.size_ms}) closed already "
                    f"(machine reading time {state['max_ts']})"
                )
            targets.append((label, start))
    opened = state["open"]
    for label, start in targets:
        sensors = opened.setdefault(label, {}).setdefault(str(start), {})
        for name, value in reading.values.items():
            _add_value(sensors, name, value, ts)
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
    """Close and return every open window whose ``end + grace`` is at or before
    ``until_ms`` (the caller passes reading time minus grace, or wall time minus grace)."""
    out: list[WindowAggregate] = []
    for spec in specs:
        label = spec.label
        windows = state["open"].get(label)
        if not windows:
            continue
        for key in sorted(windows, key=int):
            start = int(key)
            end = start + spec.size_ms
            if end > until_ms:
                break
            sensors = windows.pop(key)
            state["closed"][label] = max(state["closed"].get(label, end), end)
            if sensors:
                out.append(
                    WindowAggregate(
                        machine_id=machine_id,
                        window=label,
                        start_ms=start,
                        end_ms=end,
                        sensors={name: stats_of(raw) for name, raw in sensors.items()},
                        plant=state["plant"],
                        line=state["line"],
                    )
                )
    return out
