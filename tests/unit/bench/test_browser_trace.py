"""The Chrome trace summary: the main thread's time by event, and inside each long task."""

from __future__ import annotations

from typing import Any

from bench.browser_trace import main_thread_summary


def _thread(pid: int, tid: int, name: str) -> dict[str, Any]:
    return {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}}


def _x(name: str, ts_ms: float, dur_ms: float, tid: int = 1, **data: Any) -> dict[str, Any]:
    event = {
        "ph": "X",
        "name": name,
        "pid": 7,
        "tid": tid,
        "ts": ts_ms * 1000,
        "dur": dur_ms * 1000,
    }
    if data:
        event["args"] = {"data": data}
    return event


def test_self_time_by_event_and_the_insides_of_a_long_task() -> None:
    events = [
        _thread(7, 1, "CrRendererMain"),
        _thread(7, 2, "Compositor"),
        # A 20 ms task: a script call of 15 ms, 5 of it in a minor GC.
        {**_x("RunTask", 0, 20), "tdur": 10_000},  # 10 ms of it on a CPU
        _x("FunctionCall", 1, 15, functionName="receive", url="http://h/console/app-X.js"),
        _x("MinorGC", 5, 5),
        # A 90 ms task: 30 ms of script, then 60 ms of layout.
        _x("RunTask", 100, 90),
        _x("FunctionCall", 100, 30, functionName="", url="http://h/console/app-X.js"),
        _x("Layout", 130, 60),
        _x("RunTask", 150, 10),  # nested in the one before: counted once
        _x("RunTask", 0, 500, tid=2),  # another thread's: not counted
    ]
    main = main_thread_summary(events)
    assert main.window_ms == 190
    assert main.busy_ms == 110
    assert main.by_name["FunctionCall(receive app-X.js)"] == 10
    assert main.by_name["MinorGC"] == 5
    assert main.by_name["Layout"] == 50
    assert main.counts["Layout"] == 1
    assert [t.ms for t in main.long_tasks] == [90]
    assert main.long_tasks[0].top == (("Layout", 50.0), ("FunctionCall(app-X.js)", 30.0))
    text = main.describe()
    assert "57.9 % of 0.2 s in tasks (5.3 % on a CPU, the rest waiting for one)" in text
    assert "1 tasks over 50 ms, the longest 90 ms: Layout 50 ms" in text
    assert "MinorGC 5 ms (x1)" in text


def test_a_trace_without_the_renderer_main_thread_says_so() -> None:
    assert main_thread_summary([_x("RunTask", 0, 10)]).describe() == "no main-thread events"
