"""Ctrl-C while `make run` is still starting stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra import processes
from infra.ports import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("kafka", "influxdb", "simulator", "connector", "pipeline", "api")


def _provisioned(env: dict[str, str]) -> None:
    """Build or fetch the servers first, so the timed start-up below does not depend on an
    earlier test (or run) having filled the cache."""
    subprocess.run(
        [sys.executable, "-m", "infra", "provision"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=900,
    )


def test_interrupt_during_start_up_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env["MILLSTREAM_RUN_DIR"] = str(tmp_path)
    _provisioned(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra", "run", "--api-port", str(free_port())],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        # The API's pid file appears before the API is ready: interrupt in between.
        while processes.read_pid(tmp_path, "api") is None:
            assert proc.poll() is None, "the stack exited before starting its services"
            assert time.monotonic() < deadline, "the services never started"
            time.sleep(0.1)
        pids = {name: processes.read_pid(tmp_path, name) for name in NAMES}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert None not in pids.values(), pids
    for name, pid in pids.items():
        assert pid is not None and not processes.is_alive(pid), name
