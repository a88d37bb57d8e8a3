"""py-spy profiles of a running service, summarised for the report."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


def start(pid: int, duration_s: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample ``pid`` (and its subprocesses) for ``duration_s`` into collapsed stacks."""
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(duration_s)),
            "--rate",
            "50",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
            "--subprocesses",
        ],
        stdout=subprocess.DEVNULL,
        stderr=out.with_suffix(".err").open("wb"),
    )


def summarize(path: Path, *, top: int = 12) -> str:
    """The frames with the most samples, inclusive and self, from collapsed stacks."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    total = 0
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        n = int(count_text)
        total += n
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    if not total:
        return ""
    out = [f"{total} samples; self time:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in self_time.most_common(top)]
    out.append("inclusive (frames on the stack), excluding the event loop's own frames:")
    skip = ("run_forever", "_run_once", "_run (", "<module>", "run (asyncio", "main (")
    shown = [(f, n) for f, n in inclusive.most_common(top * 4) if not any(s in f for s in skip)]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in shown[:top]]
    return "\n".join(out)


def finish(proc: subprocess.Popen[bytes] | None, out: Path, *, timeout_s: float) -> str:
    if proc is None:
        return ""
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(timeout=10)
    summary = summarize(out)
    if not summary:
        err = out.with_suffix(".err")
        text = err.read_text(errors="replace")[-500:] if err.exists() else ""
        summary = f"py-spy gave no samples (exit {proc.returncode}): {text.strip()}"
    return summary
