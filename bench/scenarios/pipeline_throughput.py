"""Pipeline throughput: the worker against a bare aiokafka -> orjson -> line protocol ->
InfluxDB stage, on the same topic, in the same run.

N readings of 5 sensors go to a fresh readings topic. Then, one after the other:

- the bare stage: an aiokafka consumer (own group) decodes every record with orjson, builds
  line protocol and writes batches of 5,000 lines to InfluxDB; its rate is data points
  (readings x sensors) over the time from its group's join (partitions assigned, reading
  starts) to its last accepted write;
- ``python -m pipeline worker`` (a fresh consumer group) stateless (windows and alarms off),
  then with windows and alarms on; its rate is over the time from its group's join (its
  ``/health/ready/`` page answers 200) to the commit of the last reading; the group's
  committed offsets advance only after InfluxDB accepted the readings (sampled every
  100 ms; the worker commits every 200 ms here). The first commit cannot start the clock:
  it comes after much of the topic was read (at 5,000 machines, seconds after the join);
- the peer: the same tumbling and hopping aggregation in Quix Streams, run from its own
  virtual environment (``.venv-peer``, created on first use) because it pins other
  versions of our dependencies; its rate is over its first to last processed record.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import load
from bench.core import Figure, ScenarioContext
from bench.stack import terminate
from contracts.settings import CommonSettings

NAME = "pipeline_throughput"
TITLE = "Pipeline worker data points/s against a bare aiokafka->InfluxDB stage"

SENSORS = ("temperature_c", "pressure_bar", "vibration_mm_s", "power_kw", "speed_rpm")
MACHINES = 50
BARE_BATCH_LINES = 5_000
REPO = Path(__file__).resolve().parents[2]
PEER_VENV = REPO / ".venv-peer"
PEER_SCRIPT = Path(__file__).with_name("pipeline_peer_quix.py")


def _reading(
    i: int, start_ms: int, machines: int = MACHINES, every_ms: float = 1.0
) -> tuple[bytes, bytes]:
    machine = f"m{i % machines:03d}"
    value = {
        "machine_id": machine,
        "ts": _iso(start_ms + int(i * every_ms)),
        "seq": i,
        "source": "bench",
        "plant": "p1",
        "line": "l1",
        "values": {s: 20.0 + (i * 7 + n) % 50 + 0.25 for n, s in enumerate(SENSORS)},
        "quality": {},
    }
    return machine.encode(), orjson.dumps(value)


def _iso(ts_ms: int) -> str:
    from contracts.timefmt import format_ts

    return format_ts(ts_ms)


async def _produce(
    bootstrap: str, topic: str, count: int, machines: int = MACHINES, span_ms: int | None = None
) -> None:
    """``count`` readings round-robin over ``machines``, evenly over ``span_ms`` of reading
    time (default one per millisecond) ending now."""
    from kafka_edge.aio_clients import aio_producer
    from kafka_edge.connection import KafkaConnection, ProducerSettings

    producer = aio_producer(
        KafkaConnection.plain(bootstrap),
        ProducerSettings(acks=1, compression="lz4", linger_ms=20),
        max_batch_size=512 * 1024,
    )
    await producer.start()
    try:
        span = count if span_ms is None else span_ms
        start_ms = int(time.time() * 1000) - span
        pending = []
        for i in range(count):
            key, value = _reading(i, start_ms, machines, span / count)
            pending.append(await producer.send(topic, value=value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _bare_stage(settings: CommonSettings, count: int, timeout_s: float) -> float:
    """Points/s of the bare stage over ``count`` records, from the moment its consumer group
    assigned it the partitions (it reads from then on) to its last accepted write: the same
    bounds as the worker's (:func:`worker_run`)."""
    from aiokafka import ConsumerRebalanceListener
    from influxdb_client import WritePrecision
    from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

    from contracts.readings import decode_reading
    from pipeline.storage.line_protocol import reading_line

    joined: list[float] = []

    class _Joined(ConsumerRebalanceListener):  # type: ignore[misc]
        async def on_partitions_revoked(self, revoked: Any) -> None:
            return None

        async def on_partitions_assigned(self, assigned: Any) -> None:
            if assigned and not joined:
                joined.append(time.perf_counter())

    consumer = load.consumer_from_start(
        settings.kafka_bootstrap_servers,
        settings.topics.readings,
        "bench-bare",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    consumer.subscribe([settings.topics.readings], listener=_Joined())
    client = InfluxDBClientAsync(
        url=settings.influx_url,
        token=settings.influx_token.get_secret_value(),
        org=settings.influx_org,
        timeout=30_000,
    )
    write_api = client.write_api()
    await consumer.start()
    try:
        seen = 0
        lines: list[str] = []
        deadline = time.monotonic() + timeout_s
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=BARE_BATCH_LINES)
            for records in batches.values():
                for record in records:
                    lines.append(reading_line(decode_reading(record.value)))
                seen += len(records)
            if len(lines) >= BARE_BATCH_LINES or (seen >= count and lines):
                await write_api.write(
                    bucket=settings.influx_bucket, record=lines, write_precision=WritePrecision.MS
                )
                lines = []
        if seen < count or not joined:
            raise RuntimeError(f"bare stage saw {seen} of {count} records in {timeout_s} s")
        await consumer.commit()
        return count * len(SENSORS) / (time.perf_counter() - joined[0])
    finally:
        await consumer.stop()
        await client.close()


@dataclass(frozen=True, slots=True)
class WorkerRun:
    points_per_s: float
    # Largest resident set size of the worker process seen while it ran (bytes).
    peak_rss: int
    # Seconds from the worker's group join to its first reading read, to its first
    # offset commit, and to its last (the rate's interval).
    marks: dict[str, float]
    # The rate as it was taken before: from the first commit (and the readings committed
    # then) to the last, which leaves out what was read before the first commit.
    from_first_commit: float


def _rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes (0 when it cannot be read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class _WorkerWatch:
    """What the bench sees of a running worker: whether Kafka assigned it the partitions
    (its ``/health/ready/`` page), readings it has read (``/metrics/``), and its group's
    committed offsets on the readings topic."""

    def __init__(self, settings: CommonSettings, app_id: str, web_port: int) -> None:
        from kafka_edge.connection import KafkaConnection
        from kafka_edge.sync_clients import kafka_admin

        self._admin = kafka_admin(KafkaConnection.plain(settings.kafka_bootstrap_servers))
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=2.0)
        self._app_id = app_id
        self._topic = settings.topics.readings

    def ready(self) -> bool:
        try:
            return self._http.get("/health/ready/").status_code == 200
        except httpx.HTTPError:
            return False

    def readings_read(self) -> int:
        try:
            text = self._http.get("/metrics/").text
        except httpx.HTTPError:
            return 0
        found = re.search(r"^millstream_pipeline_readings_total (\S+)$", text, re.M)
        return int(float(found.group(1))) if found else 0

    def committed(self) -> int:
        offsets = self._admin.list_group_offsets(self._app_id).get(self._app_id, {})
        return sum(
            m.offset for tp, m in offsets.items() if tp.topic == self._topic and m.offset > 0
        )

    def close(self) -> None:
        self._admin.close()
        self._http.close()


def _profiler(pid: int, profile_to: Path, seconds: int) -> subprocess.Popen[bytes]:
    py_spy = str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "-o",
            str(profile_to),
            "-f",
            "raw",
            "-d",
            str(seconds),
            "--pid",
            str(pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def worker_run(
    ctx: ScenarioContext,
    settings: CommonSettings,
    count: int,
    timeout_s: float,
    *,
    stateful: bool,
    profile_to: Path | None = None,
    profile_s: int = 8,
) -> WorkerRun:
    """``python -m pipeline worker`` over the topic: points/s from the moment its group
    assigned it the partitions (it reads from then on; the first commit comes only after
    much of the topic was read) to the commit of the last reading, and its peak RSS.
    Sampled every 20 ms until the join, then every 100 ms."""
    from infra.ports import free_port

    app_id = f"bench-worker-{uuid.uuid4().hex[:6]}"
    web_port = free_port("127.0.0.1")
    env = ctx.worker_env(
        settings,
        app_id,
        MILLSTREAM_PIPELINE_COMMIT_INTERVAL_MS="200",
        MILLSTREAM_PIPELINE_WEB_PORT=str(web_port),
        MILLSTREAM_PIPELINE_WINDOWS_ENABLED="true" if stateful else "false",
        MILLSTREAM_PIPELINE_ALARMS_ENABLED="true" if stateful else "false",
    )
    log_path = ctx.work_dir / f"{app_id}.log"
    watch = _WorkerWatch(settings, app_id, web_port)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        profiler: subprocess.Popen[bytes] | None = None
        try:
            deadline = time.monotonic() + timeout_s
            marks: dict[str, float] = {}
            last = peak_rss = first_committed = 0
            while time.monotonic() < deadline:
                peak_rss = max(peak_rss, _rss(proc.pid))
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"worker exited {proc.returncode}: "
                        + log_path.read_text(errors="replace")[-2000:]
                    )
                now = time.perf_counter()
                if "joined" not in marks:
                    if watch.ready():
                        marks["joined"] = now
                    time.sleep(0.02)
                    continue
                if "read" not in marks and watch.readings_read() > 0:
                    marks["read"] = now
                    if profile_to is not None:
                        profiler = _profiler(proc.pid, profile_to, profile_s)
                last = watch.committed()
                if last > 0 and "committed" not in marks:
                    marks["committed"] = now
                    first_committed = last
                if last >= count:
                    marks["done"] = now
                    break
                time.sleep(0.1)
            if "done" not in marks:
                raise RuntimeError(f"worker committed {last} of {count} in {timeout_s} s")
            points_per_s = count * len(SENSORS) / max(marks["done"] - marks["joined"], 1e-3)
            since = {k: round(v - marks["joined"], 3) for k, v in marks.items() if k != "joined"}
            committed_s = max(marks["done"] - marks["committed"], 1e-3)
            before = (count - first_committed) * len(SENSORS) / committed_s
            return WorkerRun(points_per_s, max(peak_rss, _rss(proc.pid)), since, before)
        finally:
            watch.close()
            if profiler is not None:
                profiler.wait(timeout=30)
            terminate(proc, timeout_s=30)


def _peer_python() -> Path | None:
    """The peer venv's interpreter with quixstreams installed, or None (with the reason
    printed by pip) when it cannot be installed."""
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        check = subprocess.run(
            [str(python), "-c", "import quixstreams"], capture_output=True, timeout=60
        )
        if check.returncode == 0:
            return python
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, timeout=120)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "quixstreams"],
        capture_output=True,
        timeout=600,
    )
    if install.returncode != 0:
        sys.stderr.write(install.stderr.decode(errors="replace")[-2000:])
        return None
    return python


def _peer_stage(settings: CommonSettings, count: int, timeout_s: float) -> dict[str, Any]:
    python = _peer_python()
    if python is None:
        return {"error": "quixstreams could not be installed into .venv-peer"}
    result = subprocess.run(
        [
            str(python),
            str(PEER_SCRIPT),
            settings.kafka_bootstrap_servers,
            settings.topics.readings,
            str(count),
            str(timeout_s),
        ],
        capture_output=True,
        timeout=timeout_s + 60,
    )
    if result.returncode != 0:
        return {"error": result.stderr.decode(errors="replace")[-1500:]}
    parsed: dict[str, Any] = orjson.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def run(ctx: ScenarioContext) -> list[Figure]:
    count = 40_000 if ctx.quick else 200_000
    timeout_s = 120.0 if ctx.quick else 300.0
    settings = ctx.fresh_settings()
    ctx.progress(f"producing {count} readings of {len(SENSORS)} sensors")
    asyncio.run(_produce(settings.kafka_bootstrap_servers, settings.topics.readings, count))
    profile_dir = os.environ.get("MILLSTREAM_BENCH_PROFILE_DIR")
    figures: list[Figure] = []
    ctx.progress("bare aiokafka stage")
    bare = asyncio.run(_bare_stage(settings, count, timeout_s))
    for stateful in (False, True):
        label = "windows+alarms" if stateful else "stateless"
        ctx.progress(f"worker, {label}")
        profile = (
            Path(profile_dir) / f"worker-{label}.txt" if profile_dir and not ctx.quick else None
        )
        worker = worker_run(
            ctx, settings, count, timeout_s, stateful=stateful, profile_to=profile
        ).points_per_s
        figures.append(
            Figure(
                scenario=NAME,
                name=f"worker {label}",
                value=worker,
                unit="points/s",
                baseline_name="bare aiokafka stage",
                baseline_value=bare,
                goal=">= 0.5x bare and >= 100,000 points/s",
                met=worker >= 0.5 * bare and worker >= 100_000,
                note=f"{count} readings x {len(SENSORS)} sensors",
            )
        )
    if os.environ.get("MILLSTREAM_BENCH_SKIP_PEER") != "1":
        ctx.progress("peer: Quix Streams windowed aggregation")
        peer = _peer_stage(settings, count, timeout_s)
        if "points_per_s" in peer:
            figures.append(
                Figure(
                    scenario=NAME,
                    name="quixstreams tumbling+hopping aggregation (peer)",
                    value=float(peer["points_per_s"]),
                    unit="points/s",
                    baseline_name="bare aiokafka stage",
                    baseline_value=bare,
                    note="peer, no InfluxDB write; " + str(peer.get("note", "")),
                )
            )
        else:
            figures.append(
                Figure(
                    scenario=NAME,
                    name="quixstreams peer",
                    value=0.0,
                    unit="points/s",
                    note=f"not measured: {peer.get('error', 'unknown')}"[:500],
                )
            )
    return figures
