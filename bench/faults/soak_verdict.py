"""The soak's verdict from its samples: memory flat after warm-up, lag bounded.

Pure: :func:`verdict` reads the samples ``bench.faults.soak`` recorded.

- **Memory flat**: for each Millstream process, the median RSS of the last ``TAIL``
  samples against the median of the first ``TAIL`` samples after warm-up (the first
  ``WARMUP_FRACTION`` of the run); growth must stay under ``MAX_GROWTH``. Kafka's JVM
  and InfluxDB are reported, not judged (a heap grows to its limit; a database grows with
  its data).
- **Lag bounded**: the worker's lag in the last third of the run never exceeds
  ``LAG_SLACK`` times the highest lag of the middle third, nor ``LAG_FLOOR`` records
  if that is larger (a lag that only ever grows fails, a steady one passes).
- **File descriptors**: reported with the same growth figure, judged like memory
  but by count (a leak shows as a steady rise).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

WARMUP_FRACTION = 1 / 6
TAIL = 5
MAX_GROWTH = 0.10
LAG_SLACK = 1.5
LAG_FLOOR = 500
MAX_FD_GROWTH = 10


def _series(samples: Sequence[dict[str, Any]], name: str, key: str) -> list[float]:
    return [float(s["procs"][name][key]) for s in samples if name in s["procs"]]


def growth(values: Sequence[float]) -> tuple[float, float, float]:
    """(median at the start, median at the end, relative growth) of ``values``."""
    n = max(1, min(TAIL, len(values) // 2))
    start = statistics.median(values[:n])
    end = statistics.median(values[-n:])
    return start, end, (end - start) / start if start else 0.0


def verdict(samples: Sequence[dict[str, Any]], judged: Sequence[str]) -> dict[str, Any]:
    if len(samples) < 6:
        return {"ok": False, "reason": f"only {len(samples)} samples", "processes": {}}
    after = list(samples[int(len(samples) * WARMUP_FRACTION) :])
    names = sorted({n for s in samples for n in s["procs"]})
    per: dict[str, Any] = {}
    ok = True
    for name in names:
        rss0, rss1, g = growth(_series(after, name, "rss_mb"))
        fd0, fd1, _ = growth(_series(after, name, "fds"))
        judged_here = name in judged
        flat = g < MAX_GROWTH and fd1 - fd0 <= MAX_FD_GROWTH
        per[name] = {
            "rss_start_mb": rss0,
            "rss_end_mb": rss1,
            "rss_growth": round(g, 4),
            "fds_start": fd0,
            "fds_end": fd1,
            "judged": judged_here,
            "flat": flat,
        }
        ok = ok and (flat or not judged_here)
    lags = [s["lag"] for s in samples if s["lag"] is not None]
    third = max(1, len(lags) // 3)
    middle, last = lags[third : 2 * third], lags[2 * third :]
    bound = max(LAG_FLOOR, LAG_SLACK * max(middle or [0]))
    lag_ok = bool(last) and max(last) <= bound
    return {
        "ok": ok and lag_ok,
        "memory_flat": ok,
        "lag_bounded": lag_ok,
        "lag_max": max(lags or [0]),
        "lag_last_third_max": max(last or [0]),
        "lag_bound": bound,
        "processes": per,
    }
