"""Alarm latency: a reading's arrival in Kafka to its alarm event's arrival in Kafka.

One ``python -m pipeline worker`` (default settings, so InfluxDB batches wait up to
``pipeline_batch_max_wait_ms``) runs on fresh topics. Overheat readings (temperature_c 95,
each for a new machine, so each raises one alarm) are produced one at a time; the latency
of each is the alarm record's Kafka timestamp minus the reading record's (both CreateTime,
stamped on this host). Measured at idle, then under load: a separate process produces
readings of 50 machines at a steady rate (``LOAD_READINGS_S`` x 5 sensors = 100,000 points/s,
the throughput goal) while the probes run; and with the run's InfluxDB stopped (SIGSTOP),
when the storage path waits for it. Each phase starts once the alarm readers have
committed every reading written so far, so that a phase after the load phase does not
measure the backlog the load left (it made the first probe of the InfluxDB-stopped phase
the slowest of it). Last, under the same load with the work scaled out: one
worker stores (alarms off), another evaluates alarms only (storage and windows off). The
baseline is the storage batch window alarms used to wait for when they were evaluated on the
storage path; they are read by the worker's alarm reader now
(``pipeline/alarms/readings_reader.py``), at a position of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from bench.core import Figure, ScenarioContext
from bench.load import committed_total, end_offsets_total, percentile

NAME = "pipeline_alarm_latency"
TITLE = "Alarm latency, reading in Kafka -> alarm event in Kafka, idle and under load"

REPO = Path(__file__).resolve().parents[2]
LOAD_READINGS_S = 20_000
# The storage batch window alarms used to wait for.
BATCH_WAIT_MS = 500.0
SENSORS = ("temperature_c", "pressure_bar", "vibration_mm_s", "power_kw", "speed_rpm")


def _value(machine: str, temperature: float, ts_ms: int, seq: int) -> bytes:
    from contracts.timefmt import format_ts

    values = {s: 20.0 + n for n, s in enumerate(SENSORS)}
    values["temperature_c"] = temperature
    return orjson.dumps(
        {
            "machine_id": machine,
            "ts": format_ts(ts_ms),
            "seq": seq,
            "source": "bench",
            "values": values,
        }
    )


def _load(bootstrap: str, topic: str, rate_s: int, stop: Any) -> None:
    async def run() -> None:
        from bench.load import AIOKAFKA_DEFAULTS
        from kafka_edge.aio_clients import aio_producer
        from kafka_edge.connection import KafkaConnection

        producer = aio_producer(
            KafkaConnection.plain(bootstrap),
            replace(AIOKAFKA_DEFAULTS, linger_ms=10, compression="lz4"),
        )
        await producer.start()
        try:
            seq = 0
            tick_s = 0.05
            per_tick = int(rate_s * tick_s)
            next_t = time.monotonic()
            while not stop.is_set():
                now = int(time.time() * 1000)
                for _ in range(per_tick):
                    machine = f"load{seq % 50:02d}"
                    await producer.send(topic, _value(machine, 60.0, now, seq), machine.encode())
                    seq += 1
                next_t += tick_s
                await asyncio.sleep(max(0.0, next_t - time.monotonic()))
        finally:
            await producer.stop()

    asyncio.run(run())


async def _probe(
    bootstrap: str, readings: str, alarms: str, count: int, timeout_s: float
) -> list[float]:
    from bench.load import AIOKAFKA_DEFAULTS
    from kafka_edge.aio_clients import aio_observer, aio_producer
    from kafka_edge.connection import KafkaConnection

    kafka = KafkaConnection.plain(bootstrap)
    producer = aio_producer(kafka, AIOKAFKA_DEFAULTS)
    consumer = aio_observer(kafka, alarms)
    await producer.start()
    await consumer.start()
    prefix = f"lat{uuid.uuid4().hex[:6]}"
    sent: dict[str, int] = {}
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + timeout_s
        for i in range(count):
            machine = f"{prefix}-{i}"
            meta = await producer.send_and_wait(
                readings, _value(machine, 95.0, int(time.time() * 1000), 0), machine.encode()
            )
            sent[machine] = meta.timestamp
            while machine in sent and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        body = orjson.loads(record.value)
                        m = str(body.get("machine_id"))
                        if m in sent and body.get("event") == "raised":
                            latencies.append(record.timestamp - sent.pop(m))
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies


def _influx_pid(ctx: ScenarioContext) -> int | None:
    """The run's InfluxDB process, when this run started it."""
    if ctx.servers_dir is None:
        return None
    from infra import influxdb_server, processes

    return processes.read_pid(ctx.servers_dir, influxdb_server.NAME)


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in 0-1 (p99 of 100 probes is the 99th, not the
    slowest)."""
    return percentile(values, q * 100)


def _caught_up(bootstrap: str, readings: str, groups: list[str], timeout_s: float) -> bool:
    """Wait until the alarm readers (``groups``) committed every reading written so far: a
    phase after the load phase measures its own condition, not the backlog the load left."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        end = end_offsets_total(bootstrap, readings)
        if all(committed_total(bootstrap, group, readings) >= end for group in groups):
            return True
        time.sleep(0.5)
    return False


@contextlib.contextmanager
def _workers(
    ctx: ScenarioContext, settings: Any, roles: dict[str, dict[str, str]]
) -> Iterator[list[str]]:
    """``python -m pipeline worker`` per role (app id suffix -> extra environment), warmed
    up: one probe's alarm came through. Yields the alarm readers' consumer groups."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    base = f"bench-lat-{uuid.uuid4().hex[:6]}"
    try:
        for suffix, extra in roles.items():
            app_id = base + suffix
            env = ctx.worker_env(settings, app_id, **extra)
            log_path = ctx.work_dir / f"{app_id}.log"
            logs.append(log_path)
            with log_path.open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "pipeline", "worker"],
                        cwd=REPO,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        ctx.progress("alarm latency: warming up the worker")
        topics = settings.topics
        warm = asyncio.run(
            _probe(settings.kafka_bootstrap_servers, topics.readings, topics.alarms, 1, 90.0)
        )
        if not warm:
            tails = [path.read_text(errors="replace")[-2000:] for path in logs]
            raise RuntimeError("worker raised no alarm within 90 s: " + "\n".join(tails))
        from pipeline.alarms.readings_reader import alarm_group_id

        yield [
            alarm_group_id(base + suffix)
            for suffix, extra in roles.items()
            if extra.get("MILLSTREAM_PIPELINE_ALARMS_ENABLED") != "false"
        ]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _phase(
    ctx: ScenarioContext,
    settings: Any,
    label: str,
    count: int,
    influx_pid: int | None,
    groups: list[str],
) -> Figure:
    bootstrap = settings.kafka_bootstrap_servers
    topics = settings.topics
    caught_up = _caught_up(bootstrap, topics.readings, groups, 90.0)
    stop = multiprocessing.Event()
    loader = None
    if "under load" in label:
        loader = multiprocessing.Process(
            target=_load, args=(bootstrap, topics.readings, LOAD_READINGS_S, stop)
        )
        loader.start()
        time.sleep(3.0)
    if label == "InfluxDB stopped" and influx_pid:
        # Storage stalls (its batches wait for InfluxDB); alarms must not.
        os.kill(influx_pid, signal.SIGSTOP)
    ctx.progress(f"alarm latency: {count} probes, {label}")
    try:
        lat = asyncio.run(_probe(bootstrap, topics.readings, topics.alarms, count, 120.0))
    finally:
        stop.set()
        if loader is not None:
            loader.join(timeout=30)
        if label == "InfluxDB stopped" and influx_pid:
            os.kill(influx_pid, signal.SIGCONT)
    goal_ms = 100.0 if "under load" in label else 50.0
    p99 = _pct(lat, 0.99) if lat else float("inf")
    return Figure(
        scenario=NAME,
        name=f"alarm p99, {label}",
        value=p99,
        unit="ms",
        baseline_name="storage batch window (alarms used to wait for it)",
        baseline_value=BATCH_WAIT_MS,
        goal=f"p99 <= {goal_ms:.0f} ms",
        met=bool(lat) and p99 <= goal_ms,
        higher_is_better=False,
        note=f"n={len(lat)} p50={_pct(lat, 0.5) if lat else float('nan'):.0f} ms"
        + ("" if caught_up else "; the alarm reader had not caught up with the readings"),
        extra={"latencies_ms": lat},
    )


def run(ctx: ScenarioContext) -> list[Figure]:
    count = 30 if ctx.quick else 100
    figures: list[Figure] = []
    influx_pid = _influx_pid(ctx)
    settings = ctx.fresh_settings()
    with _workers(ctx, settings, {"": {}}) as groups:
        labels = ["idle", "under load"] + (["InfluxDB stopped"] if influx_pid else [])
        figures += [_phase(ctx, settings, label, count, influx_pid, groups) for label in labels]
    # Scaled out: storage (with windows) in one worker, the alarm engine in another, each
    # with a core's worth of Python to itself.
    settings = ctx.fresh_settings()
    roles = {
        "-store": {"MILLSTREAM_PIPELINE_ALARMS_ENABLED": "false"},
        "-alarm": {
            "MILLSTREAM_PIPELINE_STORAGE_ENABLED": "false",
            "MILLSTREAM_PIPELINE_WINDOWS_ENABLED": "false",
        },
    }
    with _workers(ctx, settings, roles) as groups:
        figures.append(
            _phase(
                ctx, settings, "under load, alarms in a worker of their own", count, None, groups
            )
        )
    return figures
