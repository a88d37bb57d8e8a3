"""Smoke check of the benchmark suite: a quick run of the end-to-end ingest scenario.

Asserts only that the suite ran, that the result carries the scenario's figures and that
no reading was lost between the simulated plants and InfluxDB; never a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_quick_bench_runs_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "e2e_ingest",
            "--out",
            str(out),
            "--doc",
            str(doc),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [s["name"] for s in result["scenarios"]] == ["e2e_ingest"]
    scenario = result["scenarios"][0]
    assert scenario["status"] == "ok", scenario["error"]
    figures = {f["name"]: f for f in scenario["figures"]}
    assert {"readings/s stored", "consumer lag max"} <= set(figures)
    stored = [f for name, f in figures.items() if name.startswith("data points/s stored (")]
    assert len(stored) == 1 and stored[0]["value"] > 0, sorted(figures)
    loss = figures["loss (readings produced - stored)"]
    assert loss["extra"]["produced"] > 0
    assert loss["value"] == 0, loss["note"]
    assert "## e2e_ingest" in doc.read_text()
