"""``python -m bench.disk_cost`` as docs/operations.md shows it, on a small load: it starts
its own InfluxDB (it needs quick compaction), writes, and reports bytes per point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_disk_cost_reports_bytes_per_point() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.disk_cost",
            "--seconds",
            "60",
            "--hz",
            "10",
            "--sensors",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found = re.search(
        r"^1,200 points .*: ([\d,]+) bytes of TSM, ([\d.]+) bytes per point$",
        done.stdout,
        flags=re.M,
    )
    assert found, done.stdout + done.stderr
    assert 0.5 < float(found.group(2)) < 20
