"""Long-running build steps with visible progress, an honest estimate and a full log."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console

from infra.errors import ProvisionError

_HEARTBEAT_S = 30.0


def _fmt(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def run_step(
    argv: Sequence[str],
    *,
    title: str,
    estimate: str,
    log_path: Path,
    console: Console,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> float:
    """Run one build command, showing elapsed time and its last output line; return seconds.

    The whole output goes to ``log_path``; a failure raises :class:`ProvisionError`
    quoting the end of that log.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    last_line = [""]
    console.print(f"[bold]{title}[/bold] ({estimate}); full log: {log_path}")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            text=True,
            errors="replace",
        )
        if proc.stdout is None:
            raise RuntimeError("expected proc.stdout is not None")

        def pump() -> None:
            if proc.stdout is None:
                raise RuntimeError("expected proc.stdout is not None")
            for line in proc.stdout:
                log.write(line)
                stripped = line.strip()
                if stripped:
                    last_line[0] = stripped[:100]

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        if console.is_terminal:
            with console.status(title) as status:
                while proc.poll() is None:
                    status.update(
                        f"{title}: {_fmt(time.monotonic() - started)} elapsed | {last_line[0]}"
                    )
                    time.sleep(0.5)
        else:
            next_beat = started + _HEARTBEAT_S
            while proc.poll() is None:
                if time.monotonic() >= next_beat:
                    console.print(f"  ... {_fmt(time.monotonic() - started)} elapsed")
                    next_beat += _HEARTBEAT_S
                time.sleep(0.5)
        reader.join(timeout=5)
        proc.stdout.close()
        proc.wait()
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise ProvisionError(
            f"{title} failed (exit {proc.returncode}) after {_fmt(elapsed)}; see {log_path}\n{tail}"
        )
    console.print(f"  done in {_fmt(elapsed)}")
    return elapsed
