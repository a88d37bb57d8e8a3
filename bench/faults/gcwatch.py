"""``python -m bench.faults.gcwatch OUT -m MODULE [ARGS...]``: run a module, timing its GC.

Every garbage collection's pause is timed with :data:`gc.callbacks`; every ``INTERVAL_S``
a line of JSON is appended to ``OUT``: the wall time, the collections and their summed and
longest pause per generation since the start. The module runs as ``python -m MODULE ARGS``
would (``runpy``), in this process, so what is timed is the service itself.
"""

from __future__ import annotations

import gc
import json
import runpy
import sys
import threading
import time
from pathlib import Path
from typing import Any

INTERVAL_S = 5.0


class GcTimer:
    """Pause counters per generation, fed by :data:`gc.callbacks`."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.total_ms = [0.0, 0.0, 0.0]
        self.max_ms = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        gen = int(info.get("generation", 2))
        pause_ms = (time.perf_counter() - self._started) * 1000
        self.count[gen] += 1
        self.total_ms[gen] += pause_ms
        self.max_ms[gen] = max(self.max_ms[gen], pause_ms)

    def snapshot(self) -> dict[str, Any]:
        return {
            "t": time.time(),
            "count": list(self.count),
            "total_ms": [round(x, 3) for x in self.total_ms],
            "max_ms": [round(x, 3) for x in self.max_ms],
        }


def _write_every(timer: GcTimer, out: Path) -> None:
    while True:
        time.sleep(INTERVAL_S)
        with out.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(timer.snapshot()) + "\n")


def read_last(path: Path) -> dict[str, Any] | None:
    """The latest line ``gcwatch`` wrote to ``path`` (None before the first)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return dict(json.loads(line))
        except ValueError:
            continue
    return None


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "-m":
        raise SystemExit("usage: python -m bench.faults.gcwatch OUT -m MODULE [ARGS...]")
    out, module, args = Path(argv[0]), argv[2], argv[3:]
    timer = GcTimer()
    gc.callbacks.append(timer)
    threading.Thread(target=_write_every, args=(timer, out), daemon=True).start()
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
