"""What the page's main thread did, read from a Chrome trace (Playwright's
``browser.start_tracing``/``stop_tracing``, the DevTools Performance panel's events).

Pure: :func:`main_thread_summary` takes the trace's JSON events and returns where the time
of the renderer's main thread went, overall and inside each long task, by event name
(``FunctionCall`` carries the function and its script, so script time is split by the
console's own functions). The scenarios print it and put it in their figures' notes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The DevTools timeline's categories, and V8's for script and garbage collection.
CATEGORIES = (
    "toplevel",
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "v8",
    "v8.execute",
    "blink.user_timing",
)
TASK_NAMES = frozenset(("RunTask", "ThreadControllerImpl::RunTask"))
MAIN_THREAD = "CrRendererMain"
LONG_TASK_MS = 50.0


@dataclass(frozen=True, slots=True)
class LongTask:
    start_ms: float  # trace clock, milliseconds
    ms: float
    top: tuple[tuple[str, float], ...]  # (label, self ms), most first


@dataclass(slots=True)
class MainThread:
    window_ms: float
    busy_ms: float  # inside top-level tasks (wall time)
    cpu_ms: float = 0.0  # the thread's CPU time inside them (``tdur``): less on a busy machine
    by_name: dict[str, float] = field(default_factory=dict)  # label -> self ms
    counts: dict[str, int] = field(default_factory=dict)  # label -> events
    long_tasks: list[LongTask] = field(default_factory=list)

    def top(self, n: int = 6) -> list[tuple[str, float]]:
        return sorted(self.by_name.items(), key=lambda kv: -kv[1])[:n]

    def describe(self, n: int = 6) -> str:
        """One line: busy share, where the time went, and the longest task's insides."""
        if self.window_ms <= 0:
            return "no main-thread events"
        parts = ", ".join(
            f"{label} {ms:.0f} ms (x{self.counts.get(label, 0)})" for label, ms in self.top(n)
        )
        text = (
            f"{self.busy_ms / self.window_ms * 100:.1f} % of {self.window_ms / 1000:.1f} s in "
            f"tasks ({self.cpu_ms / self.window_ms * 100:.1f} % on a CPU, the rest waiting "
            f"for one); by self time: {parts}"
        )
        if self.long_tasks:
            worst = max(self.long_tasks, key=lambda t: t.ms)
            inside = ", ".join(f"{label} {ms:.0f} ms" for label, ms in worst.top[:4])
            text += (
                f"; {len(self.long_tasks)} tasks over {LONG_TASK_MS:.0f} ms, the longest "
                f"{worst.ms:.0f} ms: {inside}"
            )
        return text


def label(event: Mapping[str, Any]) -> str:
    """An event's name; a script call also names its function and file."""
    name = str(event.get("name", ""))
    data = (event.get("args") or {}).get("data") or {}
    if name in ("FunctionCall", "EventDispatch", "TimerFire", "FireAnimationFrame"):
        detail = data.get("functionName") or data.get("type") or ""
        where = str(data.get("url", "")).rsplit("/", 1)[-1]
        if detail or where:
            return f"{name}({detail}{' ' + where if where else ''})".replace("( ", "(")
    return name


def _main_tid(events: Sequence[Mapping[str, Any]]) -> tuple[Any, Any] | None:
    """(pid, tid) of the busiest renderer main thread (the page's, not an extension's)."""
    mains = {
        (e.get("pid"), e.get("tid"))
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and (e.get("args") or {}).get("name") == MAIN_THREAD
    }
    if not mains:
        return None
    load: dict[tuple[Any, Any], float] = dict.fromkeys(mains, 0.0)
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key in load and e.get("ph") == "X":
            load[key] += float(e.get("dur", 0))
    return max(load, key=lambda k: load[k])


def _self_times(slices: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], float]]:
    """Each complete event with its self time (its duration less its direct children's),
    for events of one thread sorted by start, longest first on ties."""
    out: list[tuple[Mapping[str, Any], float]] = []
    stack: list[list[Any]] = []  # [event, end_us, children_us]
    for e in slices:
        ts, dur = float(e["ts"]), float(e.get("dur", 0))
        while stack and stack[-1][1] <= ts:
            done = stack.pop()
            out.append((done[0], max(0.0, float(done[0].get("dur", 0)) - done[2])))
        if stack:
            stack[-1][2] += dur
        stack.append([e, ts + dur, 0.0])
    while stack:
        done = stack.pop()
        out.append((done[0], max(0.0, float(done[0].get("dur", 0)) - done[2])))
    return out


def _outermost(tasks: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Tasks not inside another (a task runs nested ones in a nested run loop), by start."""
    out: list[Mapping[str, Any]] = []
    end = float("-inf")
    for task in tasks:
        ts = float(task["ts"])
        if ts >= end:
            out.append(task)
            end = ts + float(task.get("dur", 0))
    return out


def main_thread_summary(events: Iterable[Mapping[str, Any]]) -> MainThread:
    listed = list(events)
    tid = _main_tid(listed)
    if tid is None:
        return MainThread(window_ms=0.0, busy_ms=0.0)
    slices = sorted(
        (
            e
            for e in listed
            if (e.get("pid"), e.get("tid")) == tid and e.get("ph") == "X" and "ts" in e
        ),
        key=lambda e: (float(e["ts"]), -float(e.get("dur", 0))),
    )
    if not slices:
        return MainThread(window_ms=0.0, busy_ms=0.0)
    tasks = _outermost(e for e in slices if e.get("name") in TASK_NAMES)
    first = float(slices[0]["ts"])
    last = max(float(e["ts"]) + float(e.get("dur", 0)) for e in slices)
    summary = MainThread(
        window_ms=(last - first) / 1000,
        busy_ms=sum(float(e.get("dur", 0)) for e in tasks) / 1000,
        cpu_ms=sum(float(e.get("tdur", 0)) for e in tasks) / 1000,
    )
    selves = _self_times(slices)
    for e, self_us in selves:
        if e.get("name") in TASK_NAMES:
            continue
        key = label(e)
        summary.by_name[key] = summary.by_name.get(key, 0.0) + self_us / 1000
        summary.counts[key] = summary.counts.get(key, 0) + 1
    for task in tasks:
        ms = float(task.get("dur", 0)) / 1000
        if ms <= LONG_TASK_MS:
            continue
        t0, t1 = float(task["ts"]), float(task["ts"]) + float(task.get("dur", 0))
        inside: dict[str, float] = {}
        for e, self_us in selves:
            if e is not task and t0 <= float(e["ts"]) < t1 and e.get("name") not in TASK_NAMES:
                inside[label(e)] = inside.get(label(e), 0.0) + self_us / 1000
        top = tuple(sorted(inside.items(), key=lambda kv: -kv[1])[:6])
        summary.long_tasks.append(LongTask(start_ms=t0 / 1000, ms=ms, top=top))
    return summary
