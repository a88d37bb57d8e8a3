"""A service started with die_with_parent does not outlive a parent killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra import processes

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")

PARENT = """
import sys, time
from pathlib import Path
from infra import processes
child = processes.start(
    [sys.executable, "-c", "import time; time.sleep(120)"],
    name="sleeper", run_dir=Path(sys.argv[1]), die_with_parent=sys.argv[2] == "1",
)
print(child.pid, flush=True)
time.sleep(120)
"""


def _child_of_killed_parent(tmp_path: Path, die_with_parent: bool) -> int:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path), "1" if die_with_parent else "0"],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert parent.stdout is not None
    with parent.stdout:
        child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait(timeout=10)
    return child_pid


def _gone_within(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not processes.is_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_child_gets_sigterm_when_the_parent_is_killed(tmp_path: Path) -> None:
    assert _gone_within(_child_of_killed_parent(tmp_path, True), 10)


def test_without_it_the_child_outlives_the_parent(tmp_path: Path) -> None:
    pid = _child_of_killed_parent(tmp_path, False)
    try:
        assert not _gone_within(pid, 1)
    finally:
        os.kill(pid, signal.SIGKILL)
