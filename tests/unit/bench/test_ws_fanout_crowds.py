"""The fan-out scenario's crowd of clients split over processes, and their results merged."""

from __future__ import annotations

from bench import wsclients
from bench.scenarios.ws_fanout import _crowds


def test_crowds_split_the_clients_and_number_them_across_processes() -> None:
    machines = [f"m{i}" for i in range(10)]
    crowds = _crowds("ws://127.0.0.1:1/live", 1_000, 4, machines, "k", 5.0)
    assert [(c.n, c.offset) for c in crowds] == [(250, 0), (250, 250), (250, 500), (250, 750)]
    uneven = _crowds("ws://127.0.0.1:1/live", 101, 2, machines, "k", 5.0)
    assert [(c.n, c.offset) for c in uneven] == [(51, 0), (50, 51)]


def test_merged_sums_frames_spans_all_crowds_and_keeps_each_cpu() -> None:
    results = [
        {"frames": 10, "first": 100.0, "last": 104.0, "cpu_pct": 30.0, "latencies_ms": [1.0]},
        {"frames": 5, "first": 99.5, "last": 103.0, "cpu_pct": 12.5, "latencies_ms": [2.0, 3.0]},
        {"frames": 0, "first": None, "last": None, "cpu_pct": 0.0, "latencies_ms": []},
    ]
    out = wsclients.merged(results)
    assert out["frames"] == 15
    assert out["span_s"] == 4.5
    assert out["cpu_pct"] == [30.0, 12.5, 0.0]
    assert sorted(out["latencies_ms"]) == [1.0, 2.0, 3.0]
    assert wsclients.merged([results[2]])["span_s"] == 0.0
