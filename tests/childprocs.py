"""Our own commands run as child processes of a test: started with their output in a log
file, waited on through that log (bounded, and failing as soon as the child exits), stopped
with a signal and, if that is not enough, killed.

Imported as ``import childprocs``: pytest puts ``tests/`` on ``sys.path`` for every test
(the directory holds the session's conftest and is not a package).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start_python(
    args: list[str], *, env: dict[str, str], log_path: Path, with_stderr: bool = True
) -> subprocess.Popen[bytes]:
    """``python *args`` in the repository, its stdout (and stderr, unless ``with_stderr``
    is off: then it is dropped) written to ``log_path``."""
    stderr = subprocess.STDOUT if with_stderr else subprocess.DEVNULL
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, *args], cwd=REPO, env=env, stdout=log, stderr=stderr
        )


def read_log(log_path: Path) -> str:
    return log_path.read_text(errors="replace")


def wait_for_output(
    proc: subprocess.Popen[bytes], log_path: Path, text: str, *, timeout_s: float
) -> str:
    """The log once it shows ``text``. Fails with the log's tail when the process exits
    first or ``timeout_s`` passes."""
    command = "python " + " ".join(str(arg) for arg in proc.args[1:])  # type: ignore[index]
    deadline = time.monotonic() + timeout_s
    while text not in (out := read_log(log_path)):
        if proc.poll() is not None:
            raise AssertionError(
                f"`{command}` exited (code {proc.returncode}) before showing {text!r}:\n"
                f"{out[-6000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"`{command}` never showed {text!r}:\n{out[-6000:]}")
        time.sleep(0.2)
    return out


def stop(
    proc: subprocess.Popen[bytes], *, sig: signal.Signals = signal.SIGTERM, timeout_s: float
) -> bool:
    """Send ``sig`` to a running ``proc`` and wait for it; kill it if it outlives
    ``timeout_s``. Whether it stopped (or had stopped) by itself."""
    if proc.poll() is not None:
        return True
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
    return True
