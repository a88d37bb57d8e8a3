"""`python -m infra up | status | env | down` as docs/operations.md shows them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _infra(run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env["MILLSTREAM_RUN_DIR"] = str(run_dir)
    return subprocess.run(
        [sys.executable, "-m", "infra", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_up_is_idempotent_and_down_stops_both(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    try:
        first = _infra(run_dir, "up")
        assert first.returncode == 0, first.stderr
        settings = dict(line.split("=", 1) for line in first.stdout.splitlines())
        assert settings["MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"].startswith("127.0.0.1:")

        again = _infra(run_dir, "up")
        assert again.returncode == 0, again.stderr
        assert again.stdout == first.stdout
        assert _infra(run_dir, "env").stdout == first.stdout

        status = _infra(run_dir, "status").stdout
        assert "kafka: running" in status and "influxdb: running" in status
    finally:
        down = _infra(run_dir, "down")
    assert down.returncode == 0, down.stderr
    assert "stopped: influxdb, kafka" in down.stderr
    assert _infra(run_dir, "status").stdout == "kafka: stopped\ninfluxdb: stopped\n"


def test_env_without_a_stack_says_what_to_do(tmp_path: Path) -> None:
    result = _infra(tmp_path / "empty", "env")
    assert result.returncode == 1
    assert "run 'python -m infra up' first" in result.stderr
