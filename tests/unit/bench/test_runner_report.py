"""The benchmark runner's pure parts: discovery, selection, a failing scenario, the report."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from bench import report, runner
from bench.core import Figure, ScenarioContext
from bench.load import percentile
from bench.profile import summarize


def _ctx(tmp_path: Path) -> ScenarioContext:
    return ScenarioContext(
        connection=None,  # type: ignore[arg-type]  # the scenarios below never touch it
        quick=True,
        work_dir=tmp_path,
        progress=lambda _msg: None,
    )


def test_discovery_finds_scenarios_and_skips_helper_scripts() -> None:
    names = {d.name for d in runner.discover()}
    assert {"e2e_ingest", "seed_vs_batch", "rest_history", "growth"} <= names
    assert "pipeline_peer_quix" not in names  # a peer's script, not a scenario


def test_only_names_an_unknown_scenario() -> None:
    with pytest.raises(SystemExit, match="no scenario named nope"):
        runner.select(runner.discover(), ["nope"])


def test_a_raising_scenario_is_reported_failed_with_its_error(tmp_path: Path) -> None:
    def boom(ctx: ScenarioContext) -> list[Figure]:
        raise RuntimeError("InfluxDB went away")

    module = types.SimpleNamespace(NAME="boom", TITLE="Boom", run=boom)
    item = runner.Discovered("boom", module)  # type: ignore[arg-type]
    result = runner.run_one(item, _ctx(tmp_path))
    assert result.status == "failed"
    assert "RuntimeError: InfluxDB went away" in result.error


def _result(scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "command": "python -m bench --quick",
        "mode": "quick",
        "started_at": "2026-11-26 19:00:00",
        "duration_s": 12.0,
        "out": "result.json",
        "machine": {
            "cpu_model": "Test CPU",
            "logical_cores": 2,
            "physical_cores": 1,
            "memory_gb": 4.0,
            "os": "Linux",
            "load_avg_at_start": [1.0, 1.0, 1.0],
            "git_commit": "abc",
            "versions": {"python": "3.11"},
            "servers": {"kafka": "3.9", "influxdb": "2.7"},
        },
        "scenarios": scenarios,
    }


def test_report_shows_value_goal_baseline_ratio_and_failures() -> None:
    ok = runner.ScenarioResult(
        "e2e_ingest",
        "E2E",
        "ok",
        3.0,
        figures=[
            Figure(
                "e2e_ingest",
                "points/s",
                5000.0,
                "points/s",
                baseline_name="bare",
                baseline_value=10000.0,
                goal=">= 100,000",
                met=False,
                extra={"profile": "12 samples; self time:"},
            ),
        ],
    )
    bad = runner.ScenarioResult("ws_fanout", "WS", "failed", 1.0, error="boom")
    text = report.render(_result([ok.to_json(), bad.to_json()]))
    assert "| points/s | 5,000 | points/s | >= 100,000 | bare | 10,000 | 0.5x | **no** |" in text
    assert "**Failed**" in text and "boom" in text
    assert "12 samples; self time:" in text
    assert "Test CPU" in text and "`python -m bench --quick`" in text


def test_latency_ratio_reads_better_above_one() -> None:
    f = Figure("s", "p99", 50.0, "ms", baseline_value=100.0, higher_is_better=False)
    assert f.ratio == 2.0


def test_percentile_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0


def test_profile_summary_counts_self_and_inclusive(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text("main (a.py:1);work (a.py:5) 30\nmain (a.py:1);idle (a.py:9) 10\n")
    text = summarize(raw)
    assert "40 samples" in text
    assert " 75.0%  work (a.py:5)" in text
