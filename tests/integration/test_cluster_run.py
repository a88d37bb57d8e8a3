"""`make run-cluster` as a user runs it: the target itself, in a process group of its own,
with a run directory and API ports of its own (``MILLSTREAM_RUN_DIR``,
``MILLSTREAM_CLUSTER_API_PORTS``), so it cannot meet the session's servers.

Once its banner shows, both replicas are ready, each lists the machines of all three plants
with readings that keep arriving, and ``python -m infra status --json`` names every process;
Ctrl-C (SIGINT to the group, as a terminal sends it) then stops every process it started.

Selected with ``-m cluster``. It starts 9 JVMs (3 central brokers, 3 edge brokers, 3 MirrorMaker
2), InfluxDB, Redis and 12 Python services on loopback: minutes on a busy 2-core host.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from connectors.simulator.factory import PLANTS
from infra import processes
from infra.edges import plant_slug
from infra.ports import is_free

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[2]
BANNER = "Press Ctrl-C to stop everything."
# The hand-run figure was 4 min 15 s at a load average of 40-55; run_cluster's own waits
# (servers, edges, replicas) give up well before this.
BANNER_WITHIN_S = 600.0
LIVE_WITHIN_S = 180.0
STOPPED_WITHIN_S = 180.0
CLUSTER_PLANTS = list(PLANTS[:3])  # what `make run-cluster` starts: --plants 3
MACHINES_PER_PLANT = 5  # --machines 5
CENTRAL = ("kafka-central-1", "kafka-central-2", "kafka-central-3", "influxdb", "redis")


@dataclass
class ClusterRun:
    process: subprocess.Popen[bytes]
    run_dir: Path
    env: dict[str, str]
    log: Path
    banner: str
    banner_s: float
    urls: list[str]
    key: str


def _ports_outside_the_ephemeral_range(count: int) -> list[int]:
    """Free ports below the range the OS hands out for port 0 and outgoing connections: a
    port picked there and released may be given to one of the cluster's own processes (a
    worker's web server, a connector's health port) before the replica binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(max(1025, low - 12_000), low)
        if port not in chosen and is_free("127.0.0.1", port):
            chosen.append(port)
    return chosen


def _processes_of(run_dir: Path) -> dict[int, str]:
    """Every process whose command line or environment names ``run_dir``: what the run
    started, its servers' JVMs and scripts included (pid -> command line)."""
    marker = str(run_dir).encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if (marker in cmdline or marker in environ) and processes.is_alive(int(entry.name)):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def _wait_for_banner(proc: subprocess.Popen[bytes], log: Path) -> tuple[str, float]:
    started = time.monotonic()
    while BANNER not in (out := log.read_text(errors="replace")):
        if proc.poll() is not None:
            raise AssertionError(f"`make run-cluster` exited ({proc.returncode}):\n{out[-6000:]}")
        if time.monotonic() - started > BANNER_WITHIN_S:
            raise AssertionError(f"no banner within {BANNER_WITHIN_S:.0f} s:\n{out[-6000:]}")
        time.sleep(0.2)
    return out, time.monotonic() - started


def _interrupt(run: ClusterRun) -> float | None:
    """Ctrl-C: SIGINT to the run's process group; seconds until make exited, or None if
    it had to be killed."""
    if run.process.poll() is not None:
        return 0.0
    asked = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(run.process.pid, signal.SIGINT)
    try:
        run.process.wait(timeout=STOPPED_WITHIN_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.process.pid, signal.SIGKILL)
        run.process.wait()
        return None
    return time.monotonic() - asked


def _clean_up(run: ClusterRun) -> None:
    """What a failed test leaves: `python -m infra down` stops what a killed run-cluster
    left (edges, services, servers), then anything still naming the run directory."""
    subprocess.run(
        [sys.executable, "-m", "infra", "down"],
        cwd=ROOT,
        env=run.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    for pid in _processes_of(run.run_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterRun]:
    if not (ROOT / "api" / "static" / "console" / "index.html").is_file():
        raise AssertionError("the console is not built: run `make console` (`make test` does)")
    run_dir = tmp_path_factory.mktemp("run-cluster")
    ports = _ports_outside_the_ephemeral_range(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env.update(
        MILLSTREAM_RUN_DIR=str(run_dir),
        MILLSTREAM_CLUSTER_API_PORTS=",".join(map(str, ports)),
        PYTHONUNBUFFERED="1",
    )
    log = run_dir.parent / "make-run-cluster.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run-cluster"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a group of its own, as a terminal's foreground job
        )
    run = ClusterRun(proc, run_dir, env, log, "", 0.0, [], "")
    try:
        run.banner, run.banner_s = _wait_for_banner(proc, log)
        key = re.search(r"Admin key:\s+(\S+)", run.banner)
        assert key, run.banner
        run.key = key.group(1)
        run.urls = [f"http://127.0.0.1:{port}" for port in ports]
        print(f"\n`make run-cluster`: banner after {run.banner_s:.0f} s")
        yield run
    finally:
        stopped = _interrupt(run)
        left = _processes_of(run_dir)
        if stopped is None or left:
            _clean_up(run)


def test_both_replicas_are_ready_and_list_every_plants_machines_live(
    cluster_run: ClusterRun,
) -> None:
    """Once the banner shows, each replica's /ready answers 200 and GET /api/machines on each
    lists the 5 machines of each of the three plants; every machine's latest reading time
    then advances on both."""
    headers = {"X-API-Key": cluster_run.key}
    with httpx.Client(headers=headers, timeout=15) as http:
        for url in cluster_run.urls:
            ready = http.get(f"{url}/ready")
            assert ready.status_code == 200, (url, ready.text)
        listed = {url: _machines_of_every_plant(http, url) for url in cluster_run.urls}
        assert listed[cluster_run.urls[0]] == listed[cluster_run.urls[1]]
        took = _wait_live(http, cluster_run.urls, listed[cluster_run.urls[0]])
    print(f"every machine's readings advancing on both replicas {took:.0f} s after the banner")


def _machines_of_every_plant(http: httpx.Client, url: str) -> list[str]:
    """The machine ids ``GET /api/machines`` lists, once it has been checked to list
    MACHINES_PER_PLANT machines of each plant."""
    answer = http.get(f"{url}/api/machines")
    assert answer.status_code == 200, (url, answer.text)
    by_plant: dict[str, set[str]] = defaultdict(set)
    for machine in answer.json():
        by_plant[machine["plant"]].add(str(machine["machine_id"]))
    assert sorted(by_plant) == sorted(CLUSTER_PLANTS), (url, dict(by_plant))
    assert {len(m) for m in by_plant.values()} == {MACHINES_PER_PLANT}, (url, dict(by_plant))
    return sorted(set().union(*by_plant.values()))


def _wait_live(http: httpx.Client, urls: list[str], machines: list[str]) -> float:
    """Seconds until every machine's ``readings_ts`` has taken two different values on
    every replica: its readings are stored and keep coming (edge -> mirror -> centre ->
    worker -> InfluxDB -> API)."""
    start = time.monotonic()
    first: dict[tuple[str, str], str] = {}
    waiting = {(url, m) for url in urls for m in machines}
    while waiting:
        for url, machine in sorted(waiting):
            answer = http.get(f"{url}/api/machines/{machine}")
            assert answer.status_code == 200, (url, machine, answer.text)
            ts = answer.json()["readings_ts"]
            if ts is None:
                continue
            if (url, machine) not in first:
                first[url, machine] = ts
            elif ts != first[url, machine]:
                waiting.discard((url, machine))
        elapsed = time.monotonic() - start
        assert elapsed < LIVE_WITHIN_S, f"no new readings within {LIVE_WITHIN_S:.0f} s: {waiting}"
        if waiting:
            time.sleep(1.0)
    return time.monotonic() - start


def test_status_json_names_every_process_with_pid_port_and_health(
    cluster_run: ClusterRun,
) -> None:
    """`python -m infra status --json` in the same run directory lists the 21 processes, each
    with its pid, port and health; central brokers' names say so, a plant's processes name
    the plant."""
    out = subprocess.run(
        [sys.executable, "-m", "infra", "status", "--json"],
        cwd=ROOT,
        env=cluster_run.env,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    rows = json.loads(out)
    by_name = {row["name"]: row for row in rows}
    plant_names = {
        f"{kind}-{plant_slug(plant)}"
        for plant in CLUSTER_PLANTS
        for kind in ("kafka", "mirrormaker", "simulator", "connector")
    }
    central = {"worker-1", "worker-2", "api-1", "api-2", *CENTRAL}
    assert set(by_name) == plant_names | central and len(rows) == len(by_name), rows
    for row in rows:
        assert set(row) == {"name", "pid", "port", "healthy"}, row
        assert isinstance(row["pid"], int) and processes.is_alive(row["pid"]), row
        assert isinstance(row["port"], int) and row["port"] > 0 and row["healthy"] is True, row
    assert [n for n in by_name if "central" in n] == [
        "kafka-central-1",
        "kafka-central-2",
        "kafka-central-3",
    ]
    for plant in CLUSTER_PLANTS:
        assert sum(plant_slug(plant) in name for name in by_name) == 4, (plant, sorted(by_name))
    assert [by_name[f"api-{i}"]["port"] for i in (1, 2)] == [
        int(url.rsplit(":", 1)[1]) for url in cluster_run.urls
    ]


def test_ctrl_c_stops_every_process_it_started(cluster_run: ClusterRun) -> None:
    """SIGINT to `make run-cluster`'s group (the module's last test): make exits, and no
    process it started is left, within STOPPED_WITHIN_S: neither those with a pid file in
    the run directory nor any naming the run directory (a server's own children)."""
    run_dir = cluster_run.run_dir
    named = {p.stem: processes.read_pid(run_dir, p.stem) for p in run_dir.glob("*.pid")}
    assert len([pid for pid in named.values() if pid is not None]) == 21, named
    started = {pid for pid in named.values() if pid is not None} | _processes_of(run_dir).keys()
    took = _interrupt(cluster_run)
    assert took is not None, f"`make run-cluster` still ran {STOPPED_WITHIN_S:.0f} s after Ctrl-C"
    deadline = time.monotonic() + 10  # make has exited: it waited for its child
    while (left := _processes_of(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == {}, left
    assert [pid for pid in started if processes.is_alive(pid)] == []
    output = cluster_run.log.read_text(errors="replace")
    assert "Stopping the cluster ..." in output and "Stopped." in output, output[-3000:]
    print(f"Ctrl-C: {len(started)} processes stopped in {took:.0f} s")
