"""``python -m bench.faults.soak [--minutes 30]``: steady load for a long while, sampled.

Starts Kafka and InfluxDB of its own (free loopback ports, a temporary run directory), then
the simulator (``MACHINES`` machines polled every ``POLL_S``, an overheat episode every
two minutes so alarms are raised and cleared), a connector, a pipeline worker and the API,
each under :mod:`bench.faults.gcwatch`; a REST history query every ``QUERY_EVERY_S``.
Every ``SAMPLE_S`` it records, per process, RSS and open file descriptors (Kafka and
InfluxDB too), the worker's consumer lag on the readings topic, the connector's spool
depth and each Python service's GC pauses. At the end: the verdict (see
:func:`bench.faults.soak_verdict.verdict`), the JSON result and the soak section of
``docs/reliability.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from bench import load, machine
from bench.core import ScenarioContext
from bench.faults import gcwatch, report, soak_verdict
from bench.stack import ADMIN_KEY, Services, _ok, bench_servers, server_processes
from infra import ports
from infra.settings import InfraSettings

REPO = Path(__file__).resolve().parents[2]
MACHINES = 40
POLL_S = 0.5
SAMPLE_S = 15.0
QUERY_EVERY_S = 10.0
PY_SERVICES = ("simulator", "connector", "pipeline", "api")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.faults.soak", description=__doc__)
    p.add_argument("--minutes", type=float, default=30.0, help="how long the load runs")
    p.add_argument("--out", type=Path, default=report.SOAK_JSON, help="JSON result file")
    p.add_argument("--doc", type=Path, default=report.DOC, help="report to regenerate")
    return p


def _start_services(svc: Services, work: Path, tag: str, settings: Any) -> dict[str, Any]:
    ids = load.machine_ids(tag, MACHINES)
    port = ports.free_port("127.0.0.1")
    devices = load.devices_file(work / "devices.yaml", ids, port=port, poll_interval_s=POLL_S)
    app_id = f"soak-{tag}"

    def gc_argv(name: str, *module: str) -> list[str]:
        return ["-m", "bench.faults.gcwatch", str(work / f"gc-{name}.jsonl"), "-m", *module]

    svc.start(
        "pipeline",
        gc_argv("pipeline", "pipeline", "worker"),
        MILLSTREAM_PIPELINE_APP_ID=app_id,
        MILLSTREAM_PIPELINE_DATA_DIR=str(work / "pipeline-data"),
    )
    if not load.wait_group_stable(settings.kafka_bootstrap_servers, app_id, 120):
        raise RuntimeError(f"the worker's group never became stable; see {work}/logs")
    svc.start(
        "simulator",
        gc_argv(
            "simulator",
            "connectors.simulator",
            "--devices",
            str(devices),
            "--overheat-every-s",
            "120",
            "--log-level",
            "WARNING",
        ),
    )
    time.sleep(2.0)
    svc.start(
        "connector",
        gc_argv("connector", "connectors"),
        MILLSTREAM_CONNECTOR_DEVICES_FILE=str(devices),
        MILLSTREAM_CONNECTOR_ID=f"soak-{tag}",
        MILLSTREAM_CONNECTOR_SPOOL_DIR=str(work / "spool"),
    )
    api_port = ports.free_port("127.0.0.1")
    svc.start(
        "api",
        gc_argv("api", "api"),
        MILLSTREAM_ADMIN_API_KEY=ADMIN_KEY,
        MILLSTREAM_API_HOST="127.0.0.1",
        MILLSTREAM_API_PORT=str(api_port),
        MILLSTREAM_RATE_LIMIT_ENABLED="false",
    )
    base = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 90
    while not _ok(base + "/ready"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API was not ready at {base}/ready; see {work}/logs")
        time.sleep(0.5)
    return {
        "app_id": app_id,
        "machines": ids,
        "api": f"http://127.0.0.1:{api_port}",
    }


def _query(base: str, machine_id: str) -> bool:
    req = urllib.request.Request(  # noqa: S310 - loopback URL
        f"{base}/api/machines/{machine_id}/readings?limit=100",
        headers={"X-API-Key": ADMIN_KEY},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except OSError:
        return False


def _sample(
    t: float, procs: dict[str, psutil.Process], work: Path, lag: int | None, spool: int | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "t_s": round(t, 1),
        "lag": lag,
        "spool": spool,
        "load": [round(x, 2) for x in os.getloadavg()],
        "procs": {},
    }
    for name, p in procs.items():
        with contextlib.suppress(psutil.Error):
            family = [p, *p.children(recursive=True)]
            row["procs"][name] = {
                "rss_mb": round(sum(q.memory_info().rss for q in family) / 1e6, 1),
                "fds": sum(q.num_fds() for q in family),
            }
    for name in PY_SERVICES:
        last = gcwatch.read_last(work / f"gc-{name}.jsonl")
        if last is not None and name in row["procs"]:
            row["procs"][name]["gc"] = last
    return row


def _lag(bootstrap: str, app_id: str, topic: str) -> int | None:
    try:
        return load.end_offsets_total(bootstrap, topic) - load.committed_total(
            bootstrap, app_id, topic
        )
    except Exception:  # a slow broker answer: the sample has no lag figure
        return None


def run(minutes: float, work: Path, servers_dir: Path, console: Console) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    with bench_servers(servers_dir, console=console) as conn:
        ctx = ScenarioContext(
            connection=conn,
            quick=False,
            work_dir=work,
            progress=console.log,
            stream_partitions=3,
            servers_dir=servers_dir,
        )
        settings = ctx.fresh_settings()
        svc = Services(work, ctx.env(settings))
        try:
            started = _start_services(svc, work, load.run_tag(), settings)
            procs = {n: svc.psutil_process(n) for n in PY_SERVICES}
            procs.update(server_processes(servers_dir))
            samples: list[dict[str, Any]] = []
            queries = [0, 0]
            t0 = time.monotonic()
            next_query = t0
            next_sample = t0
            while (now := time.monotonic()) - t0 < minutes * 60:
                svc.check_running(PY_SERVICES, during="the soak")
                if now >= next_query:
                    queries[0] += 1
                    machine_id = started["machines"][queries[0] % MACHINES]
                    queries[1] += 0 if _query(started["api"], machine_id) else 1
                    next_query += QUERY_EVERY_S
                if now >= next_sample:
                    lag = _lag(
                        settings.kafka_bootstrap_servers,
                        started["app_id"],
                        settings.topics.readings,
                    )
                    samples.append(_sample(now - t0, procs, work, lag, None))
                    console.log(
                        f"soak {now - t0:.0f} s: lag={lag} "
                        + " ".join(
                            f"{n}={v['rss_mb']}MB/{v['fds']}fd"
                            for n, v in samples[-1]["procs"].items()
                        )
                    )
                    next_sample += SAMPLE_S
                time.sleep(0.5)
        finally:
            svc.stop_all()
    return {
        "machines": MACHINES,
        "poll_s": POLL_S,
        "readings_per_s": MACHINES / POLL_S,
        "queries": queries[0],
        "queries_failed": queries[1],
        "samples": samples,
    }


def dump(doc: dict[str, Any]) -> str:
    """The result as JSON, one sample a line (a long soak has hundreds)."""
    head = json.dumps({k: v for k, v in doc.items() if k != "samples"}, indent=1)
    samples = ",\n".join("  " + json.dumps(s, separators=(",", ":")) for s in doc["samples"])
    return head[:-2] + ',\n "samples": [\n' + samples + "\n ]\n}\n"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=True, soft_wrap=True)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    desc = machine.describe(REPO, InfraSettings().cache_dir)
    base = REPO / ".millstream" / "faults"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="soak-", dir=base) as tmp:
        result = run(args.minutes, Path(tmp) / "work", Path(tmp) / "servers", console)
    doc = {
        "command": "python -m bench.faults.soak " + " ".join(argv or sys.argv[1:]),
        "started_at": started.strftime("%Y-%m-%d %H:%M:%S"),
        "minutes": args.minutes,
        "machine": desc,
        **result,
        "verdict": soak_verdict.verdict(result["samples"], PY_SERVICES),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(doc))
    report.write(args.doc, soak_json=args.out)
    console.print(f"Result: {args.out}; report: {args.doc}")
    return 0 if doc["verdict"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
