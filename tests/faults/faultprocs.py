"""The processes a fault test starts and the records it reads back, bounded in time.

A Kafka broker of the test's own that may be stopped, SIGKILLed and started again on the
same port and data (the session broker is shared and must not be); the connector and the
simulator as subprocesses; a topic read back as (machine, seq, ts); InfluxDB's stored
readings as (machine, ts); a connector's Prometheus gauges.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from influxdb_client import InfluxDBClient
from rich.console import Console

from contracts import influx_schema
from contracts.readings import Reading, decode_reading
from contracts.topics import Replication
from infra import kafka_server, processes
from infra.ports import free_port
from infra.servers import LocalServers
from infra.settings import InfraSettings
from kafka_edge.connection import KafkaConnection
from kafka_edge.sync_clients import kafka_observer

REPO = Path(__file__).resolve().parents[2]


class Broker:
    """A Kafka broker that the test may stop, kill and start again on the same port and data."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        settings = InfraSettings(run_dir=run_dir, kafka_port=0, influx_port=0)
        self._proc: subprocess.Popen[bytes] | None = None
        self._dist, _ = LocalServers(settings, console=Console(stderr=True)).provision()

    def start(self) -> None:
        node = kafka_server.KafkaNode(kafka_server.NAME, 1, self.port, self.controller_port)
        configs = kafka_server.write_configs(
            run_dir=self.run_dir,
            host="127.0.0.1",
            nodes=[node],
            replication=Replication.for_brokers(1),
        )
        kafka_server.format_storage(self._dist, configs, self.run_dir)
        self._proc = kafka_server.start_node(
            self._dist,
            run_dir=self.run_dir,
            name=node.name,
            props=configs[node.name],
            heap_mb=384,
        )
        kafka_server.wait_healthy(self.bootstrap, run_dir=self.run_dir, timeout_s=90)

    def stop(self) -> None:
        processes.stop(self.run_dir, kafka_server.NAME, timeout_s=30)
        self._reap()

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, the log's tail not flushed by the broker itself."""
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGKILL)
        self._reap()
        processes.stop(self.run_dir, kafka_server.NAME, timeout_s=5)  # its stale pid file

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait(timeout=30)
            self._proc = None


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python ARGS`` from the repository, its output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def stop(
    *procs: subprocess.Popen[bytes] | None, timeout_s: float = 30.0, stacks: Path | None = None
) -> None:
    """SIGTERM each, SIGKILL after ``timeout_s``; with ``stacks``, the Python stacks of one
    that did not stop in time are dumped there first (py-spy)."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                if stacks is not None:
                    dump_stacks(proc, stacks)
                proc.kill()
                proc.wait(timeout=10)


def dump_stacks(proc: subprocess.Popen[bytes], path: Path) -> None:
    spy = Path(sys.executable).parent / "py-spy"
    out = subprocess.run(
        [str(spy), "dump", "--pid", str(proc.pid)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    path.write_text(out.stdout + out.stderr, encoding="utf-8")


def wait_for(log: Path, text: str, *, timeout_s: float, after: int = 0) -> None:
    """Wait until ``text`` is in ``log`` past its first ``after`` characters."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text(encoding="utf-8", errors="replace")[after:]:
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:]
    raise AssertionError(f"{text!r} not in {log.name} within {timeout_s} s:\n{tail}")


def spool_last_seqs(spool_dir: Path) -> dict[str, int]:
    """The last seq the connector handed out per machine (its spool's ``seqs`` table)."""
    spool_file = next(spool_dir.glob("*.sqlite3"))
    with sqlite3.connect(f"file:{spool_file}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute("SELECT machine_id, last_seq FROM seqs").fetchall()
    return {str(m): int(s) for m, s in rows}


class TopicReadings:
    """The readings topic read from the start, kept as (machine, seq, ts_ms) per record."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.records: list[tuple[str, int, int]] = []
        self.readings: list[Reading] = []
        self._consumer = kafka_observer(KafkaConnection.plain(bootstrap), topic)

    def poll(self, timeout_ms: int = 200) -> None:
        for batch in self._consumer.poll(timeout_ms=timeout_ms).values():
            for record in batch:
                r = decode_reading(record.value)
                self.records.append((r.machine_id, r.seq, r.ts_ms))
                self.readings.append(r)

    def has_all(self, last_seqs: dict[str, int]) -> bool:
        seen = {(m, s) for m, s, _ in self.records}
        return all((m, s) in seen for m, last in last_seqs.items() for s in range(1, last + 1))

    def wait_all(self, last_seqs: dict[str, int], *, timeout_s: float) -> float:
        """Poll until every seq up to ``last_seqs`` is here; return the seconds it took."""
        t0 = time.monotonic()
        while not self.has_all(last_seqs):
            if time.monotonic() - t0 > timeout_s:
                raise AssertionError(f"the topic lacks seqs up to {last_seqs} after {timeout_s} s")
            self.poll()
        return time.monotonic() - t0

    def drain(self, *, quiet_s: float = 2.0) -> None:
        """Read until nothing new came for ``quiet_s``."""
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_s:
            n = len(self.records)
            self.poll()
            if len(self.records) > n:
                quiet_since = time.monotonic()

    def seqs(self) -> list[tuple[str, int]]:
        return [(m, s) for m, s, _ in self.records]

    def close(self) -> None:
        self._consumer.close()


def stored_seqs(
    influx: Any, machines: Iterable[str], topic: list[tuple[str, int, int]], *, bucket: str = ""
) -> list[tuple[str, int]]:
    """(machine, seq) of every reading of ``topic`` whose point is in InfluxDB (a reading's
    point is its machine and timestamp: the seq itself is not stored)."""
    times = stored_times(influx, machines, bucket=bucket or influx.bucket)
    return [(m, s) for m, s, ts in topic if (m, ts) in times]


def stored_times(influx: Any, machines: Iterable[str], *, bucket: str) -> set[tuple[str, int]]:
    ids = " or ".join(f'r.machine_id == "{m}"' for m in machines)
    flux = (
        f'from(bucket: "{bucket}") |> range(start: -1d, stop: 1h) '
        f'|> filter(fn: (r) => r._measurement == "{influx_schema.READINGS}" and ({ids})) '
        '|> keep(columns: ["_time", "machine_id"]) |> group(columns: ["machine_id"]) '
        '|> unique(column: "_time")'
    )
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=30_000) as c:
        tables = c.query_api().query(flux)
    out: set[tuple[str, int]] = set()
    for table in tables:
        for rec in table.records:
            out.add((str(rec.values["machine_id"]), round(rec.get_time().timestamp() * 1000)))
    return out


def gauge(url: str, name: str) -> float | None:
    """A gauge's value from a Prometheus ``/metrics`` page (None when not there)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback URL
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


class StallWatch:
    """Watches a service's log (it writes a statistics line every few seconds): when the log
    stays silent for ``silent_s`` while the process runs, its Python stacks are dumped once
    with py-spy into ``dump`` and the silence is measured. A frozen event loop shows here."""

    def __init__(
        self, proc: subprocess.Popen[bytes], log: Path, dump: Path, *, silent_s: float = 8.0
    ) -> None:
        self.proc, self.log, self.dump, self.silent_s = proc, log, dump, silent_s
        self.longest_silence_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StallWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        size, since = -1, time.monotonic()
        while not self._stop.wait(0.5) and self.proc.poll() is None:
            now_size = self.log.stat().st_size if self.log.exists() else 0
            if now_size != size:
                size, since = now_size, time.monotonic()
                continue
            silence = time.monotonic() - since
            self.longest_silence_s = max(self.longest_silence_s, silence)
            if silence > self.silent_s and not self.dump.exists():
                dump_stacks(self.proc, self.dump)
