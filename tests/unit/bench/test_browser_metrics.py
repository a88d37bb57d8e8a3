"""The pure summaries behind the console scenario: busy share, long tasks, latencies,
the profile's top functions and the bundle's gzipped size."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from bench import browser_metrics as bm


def test_task_duration_is_read_from_the_cdp_metrics() -> None:
    metrics = [{"name": "Nodes", "value": 120}, {"name": "TaskDuration", "value": 1.25}]
    assert bm.task_duration_s(metrics) == 1.25


def test_task_duration_missing_says_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"Performance\.enable"):
        bm.task_duration_s([{"name": "Nodes", "value": 1}])


def test_busy_share_is_task_time_over_wall_time() -> None:
    assert bm.busy_pct(2.0, 3.5, 10.0) == pytest.approx(15.0)
    assert bm.busy_pct(3.0, 3.0, 5.0) == 0.0
    with pytest.raises(ValueError):
        bm.busy_pct(0.0, 1.0, 0.0)


def test_long_tasks_count_those_over_the_budget() -> None:
    got = bm.long_tasks([51.0, 120.0, 50.0])
    assert got == bm.LongTasks(count=3, max_ms=120.0, total_ms=221.0, over_budget=2)
    assert bm.long_tasks([]) == bm.LongTasks(count=0, max_ms=0.0, total_ms=0.0, over_budget=0)


def test_latencies_count_an_unseen_key_as_the_timeout() -> None:
    sent = {f"a{i}": 1000.0 * i for i in range(100)}
    seen = {f"a{i}": 1000.0 * i + 10 + i / 10 for i in range(99)}  # a99 never seen
    got = bm.latencies(sent, seen, timeout_ms=5000.0)
    assert got.count == 100
    assert got.missed == 1
    assert got.p50 == pytest.approx(14.9)
    assert got.p99 == pytest.approx(19.8)
    assert got.max == 5000.0


def test_latencies_of_nothing_are_nan() -> None:
    got = bm.latencies({}, {}, timeout_ms=100.0)
    assert got.count == 0 and math.isnan(got.p99)


def test_profile_top_ranks_self_time_and_leaves_idle_out() -> None:
    profile = {
        "startTime": 0,
        "endTime": 1_000_000,  # 1 s in microseconds
        "nodes": [
            {"id": 1, "callFrame": {"functionName": "(idle)", "url": ""}, "hitCount": 50},
            {
                "id": 2,
                "callFrame": {
                    "functionName": "render",
                    "url": "http://127.0.0.1/console/app-X.js",
                    "lineNumber": 0,
                    "columnNumber": 99,
                },
                "hitCount": 30,
            },
            {
                "id": 3,
                "callFrame": {"functionName": "(garbage collector)", "url": ""},
                "hitCount": 20,
            },
        ],
    }
    assert bm.profile_top(profile, top=2) == (
        "render (app-X.js:1:100) 300 ms, (garbage collector) 200 ms"
    )
    assert bm.profile_top({"nodes": []}) == "no samples"


def test_gzipped_size_matches_gzip(tmp_path: Path) -> None:
    path = tmp_path / "app.js"
    path.write_bytes(b"function f(){return 1}\n" * 1000)
    assert bm.gzipped_kb(path) == len(gzip.compress(path.read_bytes())) / 1024


def test_shares_are_each_metric_growth_over_the_window() -> None:
    before = [{"name": "ThreadTime", "value": 1.0}, {"name": "LayoutDuration", "value": 0.5}]
    after = [{"name": "ThreadTime", "value": 3.0}, {"name": "LayoutDuration", "value": 0.75}]
    got = bm.shares_pct(before, after, 10.0, ["ThreadTime", "LayoutDuration"])
    assert got == pytest.approx({"ThreadTime": 20.0, "LayoutDuration": 2.5})
