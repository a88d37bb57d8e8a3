"""Pure summaries of what a browser reports: main-thread busy time, long tasks, latencies
and the gzipped size of a bundle. No browser here: :mod:`bench.scenarios.console_perf`
collects the raw numbers and hands them to these."""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import percentile

LONG_TASK_BUDGET_MS = 50.0


def metric(metrics: Sequence[Mapping[str, object]], name: str) -> float:
    """One value of CDP ``Performance.getMetrics`` (durations are in seconds)."""
    for m in metrics:
        if m.get("name") == name:
            value = m.get("value")
            if isinstance(value, int | float):
                return float(value)
    raise ValueError(f"Performance.getMetrics: no {name} (was Performance.enable sent?)")


def task_duration_s(metrics: Sequence[Mapping[str, object]]) -> float:
    """``TaskDuration``: seconds the main thread spent in tasks (wall time, so a renderer
    waiting for a CPU on a loaded machine counts too; ``ThreadTime`` is its CPU time)."""
    return metric(metrics, "TaskDuration")


def shares_pct(
    before: Sequence[Mapping[str, object]],
    after: Sequence[Mapping[str, object]],
    wall_s: float,
    names: Sequence[str],
) -> dict[str, float]:
    """Each named duration metric's growth over ``wall_s``, as % of it."""
    return {n: busy_pct(metric(before, n), metric(after, n), wall_s) for n in names}


def busy_pct(task_s_before: float, task_s_after: float, wall_s: float) -> float:
    """Main-thread busy share (%) over ``wall_s`` from two ``TaskDuration`` readings."""
    if wall_s <= 0:
        raise ValueError("wall_s: must be positive")
    return max(0.0, task_s_after - task_s_before) / wall_s * 100


@dataclass(frozen=True, slots=True)
class LongTasks:
    """What a ``longtask`` PerformanceObserver saw (every entry is over 50 ms by definition)."""

    count: int
    max_ms: float
    total_ms: float
    over_budget: int  # entries longer than the budget given to :func:`long_tasks`


def long_tasks(durations_ms: Sequence[float], budget_ms: float = LONG_TASK_BUDGET_MS) -> LongTasks:
    return LongTasks(
        count=len(durations_ms),
        max_ms=max(durations_ms, default=0.0),
        total_ms=sum(durations_ms),
        over_budget=sum(1 for d in durations_ms if d > budget_ms),
    )


@dataclass(frozen=True, slots=True)
class Latencies:
    count: int
    p50: float
    p99: float
    max: float
    missed: int


def latencies(
    sent_ms: Mapping[str, float], seen_ms: Mapping[str, float], timeout_ms: float
) -> Latencies:
    """Sent -> seen per key (same clock); a key never seen counts as ``timeout_ms`` (a miss)."""
    values = [seen_ms[k] - t if k in seen_ms else timeout_ms for k, t in sent_ms.items()]
    missed = sum(1 for k in sent_ms if k not in seen_ms)
    return Latencies(
        count=len(values),
        p50=percentile(values, 50),
        p99=percentile(values, 99),
        max=max(values, default=float("nan")),
        missed=missed,
    )


def gzipped_kb(path: Path) -> float:
    """Size of ``path`` gzipped at the default level, in kB (1,024 bytes), as web/build.mjs
    reports it."""
    return len(gzip.compress(path.read_bytes())) / 1024


def profile_top(profile: Mapping[str, Any], top: int = 5) -> str:
    """The functions with the most self time in a CDP ``Profiler.stop`` profile, as
    ``name (file:line) N ms`` (idle time left out); sampling makes these estimates."""
    nodes = profile.get("nodes") or []
    hits = sum(int(n.get("hitCount", 0)) for n in nodes)
    span_ms = (float(profile.get("endTime", 0)) - float(profile.get("startTime", 0))) / 1000
    if not hits or span_ms <= 0:
        return "no samples"
    per_hit_ms = span_ms / hits
    selves: dict[str, float] = {}
    for n in nodes:
        frame = n.get("callFrame") or {}
        name = frame.get("functionName") or "(anonymous)"
        if name == "(idle)":
            continue
        where = str(frame.get("url", "")).rsplit("/", 1)[-1]
        line, col = int(frame.get("lineNumber", -1)) + 1, int(frame.get("columnNumber", -1)) + 1
        label = f"{name} ({where}:{line}:{col})" if where else name
        selves[label] = selves.get(label, 0.0) + int(n.get("hitCount", 0)) * per_hit_ms
    ranked = sorted(selves.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{label} {ms:.0f} ms" for label, ms in ranked if ms > 0) or "no samples"
