"""Child processes with a pid file and a log file, stopped gently then firmly."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

from infra.errors import ServerStartError

logger = logging.getLogger(__name__)


def start(
    argv: Sequence[str],
    *,
    name: str,
    run_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    die_with_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, output to ``<run_dir>/logs/<name>.log``.

    ``die_with_parent``: the child gets SIGTERM when this process dies, even by SIGKILL
    (Linux's ``PR_SET_PDEATHSIG``), so a killed ``make run`` leaves no service behind."""
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_term_on_parent_death if die_with_parent and _HAS_PDEATHSIG else None,
        )
    pid_file(run_dir, name).write_text(str(proc.pid))
    logger.info("started name=%s pid=%d log=%s", name, proc.pid, log_path)
    return proc


_HAS_PDEATHSIG = sys.platform == "linux"
_PR_SET_PDEATHSIG = 1


def _term_on_parent_death() -> None:  # pragma: no cover - runs in the child before exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def interrupt_on_signals() -> None:
    """Turn SIGINT and SIGTERM into one KeyboardInterrupt: a foreground stack stops at once,
    even while waiting for start-up, and its clean-up runs only once."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def log_file(run_dir: Path, name: str) -> Path:
    return run_dir / "logs" / f"{name}.log"


def read_pid(run_dir: Path, name: str) -> int | None:
    path = pid_file(run_dir, name)
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_alive(pid) else None


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return _not_zombie(pid)
    return done == 0


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def stop(run_dir: Path, name: str, *, timeout_s: float = 20.0) -> bool:
    """Stop the process named ``name``: SIGTERM to its group, SIGKILL after ``timeout_s``."""
    return bool(stop_all(run_dir, [name], timeout_s=timeout_s))


def stop_all(run_dir: Path, names: Sequence[str], *, timeout_s: float = 20.0) -> list[str]:
    """Stop several processes at once (SIGTERM to all, then wait; SIGKILL after
    ``timeout_s``), so the nodes of a cluster shut down together instead of the last one
    waiting for a quorum that has gone. Returns the names that were running."""
    pids: dict[str, int] = {}
    for name in names:
        pid = read_pid(run_dir, name)
        pid_file(run_dir, name).unlink(missing_ok=True)
        if pid is not None:
            pids[name] = pid
            _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    waiting = dict(pids)
    while waiting and time.monotonic() < deadline:
        for name, pid in list(waiting.items()):
            if not is_alive(pid):
                logger.info("stopped name=%s pid=%d", name, pid)
                del waiting[name]
        time.sleep(0.1)
    for name, pid in waiting.items():
        logger.warning("killing name=%s pid=%d after %.0fs", name, pid, timeout_s)
        _signal_group(pid, signal.SIGKILL)
    return [name for name in names if name in pids]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def tail(path: Path, *, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until_one_exits(run_dir: Path, names: Sequence[str], *, interval_s: float = 0.5) -> str:
    """Block while every named process runs; return the name of the first that is gone."""
    while True:
        for name in names:
            if read_pid(run_dir, name) is None:
                return name
        time.sleep(interval_s)


def wait_until_healthy(
    check: Callable[[], bool],
    *,
    run_dir: Path,
    names: Sequence[str],
    what: str,
    timeout_s: float,
    interval_s: float = 0.3,
) -> None:
    """Poll ``check`` until it passes; fail at once, quoting its log, if a named process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name in names:
            if read_pid(run_dir, name) is None:
                log = log_file(run_dir, name)
                raise ServerStartError(
                    f"{name} exited during start-up; last lines of {log}:\n{tail(log)}"
                )
        if check():
            return
        time.sleep(interval_s)
    raise ServerStartError(f"{what} within {timeout_s:.0f}s; see {run_dir / 'logs'}")
