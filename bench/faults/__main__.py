"""``python -m bench.faults [--merge] [PYTEST ARGS...]``: the fault suite, full outages.

Runs ``tests/faults`` with pytest in one process (``MILLSTREAM_FAULTS_FULL=1``: a minute of
InfluxDB stopped, 30 s of device power cycle, ...), collects the row every test records,
writes the JSON result (``docs/reliability-faults.json``) and regenerates
``docs/reliability.md``. Extra arguments go to pytest (``-k broker`` runs one row). Exits
with pytest's status. ``--merge`` keeps the rows of the last result that this run did not
run again (after a fix, ``--merge -k broker`` replaces the broker rows only); the report
then gives each row's own start time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import machine
from bench.faults import report
from infra.settings import InfraSettings

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    merge = "--merge" in argv
    argv = [a for a in argv if a != "--merge"]
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    desc = machine.describe(REPO, InfraSettings().cache_dir)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        env = dict(os.environ, MILLSTREAM_FAULTS_FULL="1", MILLSTREAM_FAULTS_RESULTS=str(rows_file))
        status = subprocess.call(
            [sys.executable, "-m", "pytest", "tests/faults", "-p", "no:cacheprovider", *argv],
            cwd=REPO,
            env=env,
        )
        lines = rows_file.read_text().splitlines() if rows_file.exists() else []
    rows = [json.loads(line) for line in lines]
    for row in rows:
        row["run_started_at"] = started.strftime("%Y-%m-%d %H:%M:%S")
    if merge and report.FAULTS_JSON.exists():
        previous = json.loads(report.FAULTS_JSON.read_text())
        rerun = {r["test"] for r in rows}
        kept = [r for r in previous["rows"] if r["test"] not in rerun]
        for r in kept:
            r.setdefault("run_started_at", previous["started_at"])
        order = [r["test"] for r in previous["rows"]]
        rows = sorted(
            kept + rows, key=lambda r: order.index(r["test"]) if r["test"] in order else len(order)
        )
    doc = {
        "command": " ".join(
            ["python -m bench.faults", *(["--merge"] if merge else []), shlex.join(argv)]
        ).strip(),
        "mode": "full",
        "started_at": started.strftime("%Y-%m-%d %H:%M:%S"),
        "duration_s": time.monotonic() - t0,
        "machine": desc,
        "pytest_status": status,
        "merged": merge,
        "rows": rows,
    }
    report.FAULTS_JSON.write_text(json.dumps(doc, indent=1) + "\n")
    report.write()
    print(f"Result: {report.FAULTS_JSON}; report: {report.DOC}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
