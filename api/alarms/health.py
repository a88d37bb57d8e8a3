"""ISA-18.2 alarm performance KPIs from a period's alarm events, pure.

ISA-18.2 (and EEMUA 191) judge an alarm system by what one operator position receives;
Millstream takes a plant as that position:

- average raised alarms per 10 minutes (the guideline: 1-2 is manageable) and the peak
  10-minute count, over fixed 10-minute windows aligned to the epoch;
- the share of those windows in flood (more than 10 alarms in 10 minutes);
- the ten most frequent alarms (bad actors) and their share of all alarms;
- chattering alarms: raised 3 or more times within 60 s;
- standing alarms: active (raised and not cleared) for more than 24 hours;
- time to acknowledge: from ``raised`` to the next ``acknowledged`` of the same alarm.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from api.flat import machine_id_json
from contracts.timefmt import format_ts

WINDOW_MS = 600_000
FLOOD_PER_WINDOW = 10
TARGET_PER_WINDOW = (1, 2)
CHATTER_COUNT = 3
CHATTER_WINDOW_MS = 60_000
STANDING_MS = 86_400_000
TOP = 10


@dataclass(frozen=True, slots=True)
class Event:
    ts_ms: int
    event: str
    plant: str
    machine_id: str
    sensor: str
    rule: str

    @property
    def alarm_id(self) -> str:
        return f"{self.machine_id}:{self.sensor}:{self.rule}"


def _alarm_view(event: Event) -> dict[str, Any]:
    return {
        "alarm_id": event.alarm_id,
        "machine_id": machine_id_json(event.machine_id),
        "sensor": event.sensor,
        "rule": event.rule,
        "plant": event.plant,
    }


def rates(raised: list[int], start_ms: int, stop_ms: int, plant: str | None) -> dict[str, Any]:
    """Counts per 10-minute window of the raise times ``raised`` in ``[start, stop)``."""
    first, last = start_ms // WINDOW_MS, (stop_ms - 1) // WINDOW_MS
    windows = max(1, last - first + 1)
    per_window = Counter(ts // WINDOW_MS for ts in raised)
    peak_window, peak = max(per_window.items(), key=lambda kv: (kv[1], -kv[0]), default=(0, 0))
    flooded = sum(1 for n in per_window.values() if n > FLOOD_PER_WINDOW)
    period_windows = max((stop_ms - start_ms) / WINDOW_MS, 1e-9)
    return {
        "plant": plant,
        "raised": len(raised),
        "per_10min_avg": round(len(raised) / period_windows, 3),
        "per_10min_peak": peak,
        "peak_at": format_ts(peak_window * WINDOW_MS) if peak else None,
        "flood_pct": round(100 * flooded / windows, 3),
    }


def chattering(raises: dict[str, list[Event]]) -> list[dict[str, Any]]:
    """Alarms raised ``CHATTER_COUNT`` or more times within ``CHATTER_WINDOW_MS``."""
    out = []
    for events in raises.values():
        times = [e.ts_ms for e in events]
        most, minutes, lo = 0, set(), 0
        for hi, ts in enumerate(times):
            while ts - times[lo] >= CHATTER_WINDOW_MS:
                lo += 1
            most = max(most, hi - lo + 1)
            if hi - lo + 1 >= CHATTER_COUNT:
                minutes.add(ts // CHATTER_WINDOW_MS)
        if most >= CHATTER_COUNT:
            out.append({**_alarm_view(events[0]), "max_per_min": most, "episodes": len(minutes)})
    return sorted(out, key=lambda a: (-a["max_per_min"], -a["episodes"], a["alarm_id"]))


def standing_and_acks(
    by_alarm: dict[str, list[Event]], start_ms: int, stop_ms: int, now_ms: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Standing alarms, and time-to-acknowledge figures, walking each alarm's events."""
    standing: list[dict[str, Any]] = []
    waits: list[float] = []
    unacked = 0
    for events in by_alarm.values():
        since: int | None = None
        awaiting: int | None = None
        longest: tuple[int, int, bool] | None = None  # (since, duration, active at stop)
        for i, e in enumerate(events):
            if e.event == "raised":
                if awaiting is not None:
                    unacked += 1
                since, awaiting = e.ts_ms, e.ts_ms
            elif e.event == "cleared":
                began = since if since is not None else (start_ms if i == 0 else None)
                if began is not None and (longest is None or e.ts_ms - began > longest[1]):
                    longest = (began, e.ts_ms - began, False)
                since = None
            elif e.event == "acknowledged" and awaiting is not None:
                waits.append((e.ts_ms - awaiting) / 1000)
                awaiting = None
        if awaiting is not None:
            unacked += 1
        if since is not None and (longest is None or stop_ms - since > longest[1]):
            longest = (since, stop_ms - since, True)
        if longest is not None and longest[1] > STANDING_MS:
            began, duration, open_at_stop = longest
            standing.append(
                {
                    **_alarm_view(events[0]),
                    "raised_at": format_ts(began),
                    "active_s": round(duration / 1000, 3),
                    "active_now": open_at_stop and stop_ms >= now_ms - 60_000,
                }
            )
    standing.sort(key=lambda a: -a["active_s"])
    return standing, _wait_figures(waits, unacked)


def _wait_figures(waits: list[float], unacked: int) -> dict[str, Any]:
    if not waits:
        return {
            "count": 0,
            "unacknowledged": unacked,
            "mean_s": None,
            "median_s": None,
            "p90_s": None,
            "max_s": None,
        }
    ordered = sorted(waits)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return {
        "count": len(waits),
        "unacknowledged": unacked,
        "mean_s": round(statistics.fmean(waits), 3),
        "median_s": round(statistics.median(waits), 3),
        "p90_s": round(p90, 3),
        "max_s": round(ordered[-1], 3),
    }


def alarm_health(
    events: list[Event], *, start_ms: int, stop_ms: int, now_ms: int, plant: str | None
) -> dict[str, Any]:
    """Every KPI of the period; ``events`` in time order."""
    by_alarm: dict[str, list[Event]] = defaultdict(list)
    raises: dict[str, list[Event]] = defaultdict(list)
    by_plant: dict[str, list[int]] = defaultdict(list)
    for e in events:
        by_alarm[e.alarm_id].append(e)
        if e.event == "raised":
            raises[e.alarm_id].append(e)
            by_plant[e.plant].append(e.ts_ms)
    total = sum(len(r) for r in raises.values())
    top = sorted(raises.values(), key=lambda r: (-len(r), r[0].alarm_id))[:TOP]
    standing, acks = standing_and_acks(by_alarm, start_ms, stop_ms, now_ms)
    return {
        "start": format_ts(start_ms),
        "stop": format_ts(stop_ms),
        "period_s": round((stop_ms - start_ms) / 1000, 3),
        "guideline": {
            "per_10min_target": list(TARGET_PER_WINDOW),
            "flood_per_10min": FLOOD_PER_WINDOW,
            "chattering_per_min": CHATTER_COUNT,
            "standing_after_s": STANDING_MS // 1000,
        },
        "plants": [rates(t, start_ms, stop_ms, p) for p, t in sorted(by_plant.items())],
        "total": rates([ts for t in by_plant.values() for ts in t], start_ms, stop_ms, plant),
        "top": [
            {**_alarm_view(r[0]), "count": len(r), "pct": round(100 * len(r) / total, 3)}
            for r in top
        ],
        "chattering": chattering(raises),
        "standing": standing,
        "acknowledge": acks,
    }
