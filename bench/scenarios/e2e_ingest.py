"""End-to-end ingest: simulated plants -> connector -> Kafka -> pipeline worker -> InfluxDB.

One simulator serves N machines (Modbus TCP, one port, unit ids 1..N); one connector polls
them every ``poll_interval_s`` and produces readings; one pipeline worker (windows and
alarms on) writes them to InfluxDB. The load runs for a fixed time, then the simulator and
connector stop, the worker drains, and:

- throughput = readings the worker committed (offsets advance only after InfluxDB accepted
  the batch) over the sustained window, x the values each reading carries (every machine
  has ``load.TAGS_PER_MACHINE`` tags: the example lathe's, plus float32 values read in one
  block of input registers) for data points;
- loss = distinct readings on the readings topic (read back whole) minus readings stored in
  InfluxDB (a Flux count over this run's machine ids); must be 0;
- consumer lag = end offsets minus the worker's committed offsets, sampled every second;
- CPU (% of one core) and peak RSS per process, psutil.

Baseline: the slowest of a bare aiokafka producer, a bare aiokafka consumer and a bare
line-protocol writer into the same InfluxDB, each over the same number of readings of as
many values.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from bench import load, profile
from bench.core import Figure, ScenarioContext
from bench.stack import ProcessSampler, server_processes, services
from infra import ports

NAME = "e2e_ingest"
TITLE = "Simulated plants -> connector -> Kafka -> worker -> InfluxDB, sustained; loss must be 0"

GOAL_POINTS_S = 100_000.0
FLOOR_POINTS_S = 15_000.0  # ThingsBoard's published figure on 2 vCPUs
TAGS = load.TAGS_PER_MACHINE


async def _distinct_readings(
    bootstrap: str, topic: str, total: int, timeout_s: float
) -> tuple[int, int]:
    """Distinct (machine, ts) readings with a temperature on ``topic``, read from the start,
    and the values they carry (data points)."""
    from kafka_edge.aio_clients import aio_observer
    from kafka_edge.connection import KafkaConnection

    consumer = aio_observer(KafkaConnection.plain(bootstrap), topic)
    await consumer.start()
    seen: dict[tuple[str, str], int] = {}
    n = 0
    try:
        deadline = time.monotonic() + timeout_s
        while n < total and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for r in records:
                    n += 1
                    obj: dict[str, Any] = orjson.loads(r.value)
                    values = obj.get("values") or {}
                    if "temperature_c" in values:
                        seen[(str(obj["machine_id"]), str(obj["ts"]))] = len(values)
        if n < total:
            raise RuntimeError(f"read back {n} of {total} records from {topic} in {timeout_s} s")
        return len(seen), sum(seen.values())
    finally:
        await consumer.stop()


def run_load(
    ctx: ScenarioContext,
    *,
    machines: int,
    poll_interval_s: float,
    duration_s: float,
    label: str = "",
    connectors: int = 1,
    tags: int = TAGS,
) -> dict[str, Any]:
    """Run the whole path for ``duration_s``; return rates, lag, loss and process costs
    (``values_per_reading``: what each reading carries, for points/s).

    ``connectors`` > 1 runs that many connector processes on the devices file, each
    with ``MILLSTREAM_CONNECTOR_SHARD=i/n`` (named ``connector-0`` ...)."""
    settings = ctx.fresh_settings()
    tag = load.run_tag()
    ids = load.machine_ids(tag, machines)
    modbus_port = ports.free_port("127.0.0.1")
    work = ctx.work_dir / (label or "load")
    work.mkdir(parents=True, exist_ok=True)
    devices = load.devices_file(
        work / "devices.yaml", ids, port=modbus_port, poll_interval_s=poll_interval_s, tags=tags
    )
    app_id = f"bench-worker-{tag}"
    bootstrap = settings.kafka_bootstrap_servers
    topic = settings.topics.readings
    env = ctx.env(settings)
    with services(work, env) as svc:
        svc.start(
            "pipeline",
            ["-m", "pipeline", "worker"],
            MILLSTREAM_PIPELINE_APP_ID=app_id,
            MILLSTREAM_PIPELINE_DATA_DIR=str(work / "pipeline-data"),
        )
        # Readings arriving before the worker's first assignment crash it (a table's
        # changelog topic without producer metadata); start the load once it is stable.
        if not load.wait_group_stable(bootstrap, app_id, 90):
            raise RuntimeError(f"the worker's group never became stable; see {work}/logs")
        time.sleep(2.0)
        svc.start(
            "simulator",
            [
                "-m",
                "connectors.simulator",
                "--devices",
                str(devices),
                "--overheat-every-s",
                "0",
                "--log-level",
                "WARNING",
            ],
        )
        time.sleep(2.0)  # the simulator binds its port
        connector_names = (
            ["connector"] if connectors == 1 else [f"connector-{i}" for i in range(connectors)]
        )
        for i, name in enumerate(connector_names):
            svc.start_connector(
                name, devices, shard=i, shards=connectors, MILLSTREAM_CONNECTOR_ID=f"bench-{tag}"
            )
        names = ["simulator", *connector_names, "pipeline"]
        procs = {n: svc.psutil_process(n) for n in names}
        procs.update(server_processes(ctx.servers_dir))
        sampler = ProcessSampler(procs)
        # Warm-up: wait for the worker's first commit (group joined, first batch stored).
        deadline = time.monotonic() + 90
        while load.committed_total(bootstrap, app_id, topic) == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker committed nothing within 90 s; see {work}/logs")
            svc.check_running(names, during="warm-up")
            time.sleep(0.5)
        sampler.start()
        c0, p0, t0 = (
            load.committed_total(bootstrap, app_id, topic),
            load.end_offsets_total(bootstrap, topic),
            time.monotonic(),
        )
        lags: list[int] = []
        prof_s = min(20.0, duration_s / 2)
        spies = {
            n: profile.start(svc.pid(n), prof_s, work / f"{n}.pyspy.txt")
            for n in ("simulator", connector_names[0], "pipeline")
        }
        while time.monotonic() - t0 < duration_s:
            time.sleep(1.0)
            sampler.sample()
            end = load.end_offsets_total(bootstrap, topic)
            lags.append(end - load.committed_total(bootstrap, app_id, topic))
            ctx.progress(
                f"{label or 'load'}: {time.monotonic() - t0:.0f}/{duration_s:.0f} s, lag {lags[-1]}"
            )
        elapsed = time.monotonic() - t0
        c1, p1 = (
            load.committed_total(bootstrap, app_id, topic),
            load.end_offsets_total(bootstrap, topic),
        )
        costs = sampler.stop()
        profiles = {
            n: profile.finish(p, work / f"{n}.pyspy.txt", timeout_s=30) for n, p in spies.items()
        }
        for name in connector_names:
            svc.stop(name)  # flushes what it holds
        svc.stop("simulator")
        produced = load.end_offsets_total(bootstrap, topic)
        drain_deadline = time.monotonic() + 120
        while load.committed_total(bootstrap, app_id, topic) < produced:
            if time.monotonic() > drain_deadline:
                break
            time.sleep(0.5)
        committed = load.committed_total(bootstrap, app_id, topic)
        svc.stop("pipeline")
    distinct, distinct_points = asyncio.run(_distinct_readings(bootstrap, topic, produced, 120))
    stored = load.influx_count_readings(settings, tag)
    stored_points = load.influx_count_points(settings, tag)
    return {
        "tag": tag,
        "machines": machines,
        "values_per_reading": max(tags, load.example_tags()),
        "offered_readings_s": machines / poll_interval_s,
        "produced_readings_s": (p1 - p0) / elapsed,
        "stored_readings_s": (c1 - c0) / elapsed,
        "duration_s": elapsed,
        "lag_max": max(lags, default=0),
        "lag_p50": load.percentile([float(x) for x in lags], 50),
        "records_produced": produced,
        "records_committed": committed,
        "distinct_readings": distinct,
        "stored_readings": stored,
        "loss": distinct - stored,
        "distinct_points": distinct_points,
        "stored_points": stored_points,
        "points_loss": distinct_points - stored_points,
        "costs": costs,
        "profiles": profiles,
    }


def run(ctx: ScenarioContext) -> list[Figure]:
    # Full: 4,000 readings/s of 30 values offered (120,000 points/s, above the goal), so a
    # path that keeps up shows no lag; far beyond it, late scans and stale values would
    # make the connector's and the worker's work different from a plant's.
    machines, poll_s, duration_s = (50, 0.05, 30.0) if ctx.quick else (200, 0.05, 120.0)
    ctx.progress("bare stages")
    bare_n = 50_000 if ctx.quick else 200_000
    values = max(TAGS, load.example_tags())
    bare = load.bare_stage_rates(ctx.fresh_settings(), load.run_tag(), bare_n, 120, tags=values)
    slowest_name, slowest = min(bare.items(), key=lambda kv: kv[1])
    ctx.progress(f"{machines} machines every {poll_s * 1000:.0f} ms for {duration_s:.0f} s")
    r = run_load(ctx, machines=machines, poll_interval_s=poll_s, duration_s=duration_s)
    points_s = r["stored_readings_s"] * values
    costs = r["costs"]
    cost_note = "; ".join(
        f"{n} {c['cpu_pct']:.0f}% CPU, {c['peak_rss_mb']:.0f} MB" for n, c in costs.items()
    )
    offered_note = (
        f"offered load {r['offered_readings_s']:.0f} readings/s ({machines} simulated machines "
        f"of {values} tags, polled every {poll_s * 1000:.0f} ms); the connector produced "
        f"{r['produced_readings_s']:.0f}/s"
    )
    return [
        Figure(
            NAME,
            f"data points/s stored ({values} tags per machine)",
            points_s,
            "points/s",
            baseline_name=f"slowest bare stage ({slowest_name}, readings of {values} values)",
            baseline_value=slowest * values,
            goal=f">= {GOAL_POINTS_S:,.0f} (floor {FLOOR_POINTS_S:,.0f})",
            met=points_s >= GOAL_POINTS_S,
            note=offered_note + ". Per process: " + cost_note,
            extra={
                "bare_stages_readings_s": bare,
                "run": {k: v for k, v in r.items() if k != "profiles"},
                "profile": "\n\n".join(
                    f"[{n}]\n{text}" for n, text in r["profiles"].items() if text
                ),
            },
        ),
        Figure(
            NAME,
            "readings/s stored",
            r["stored_readings_s"],
            "readings/s",
            baseline_name="readings/s produced by the connector",
            baseline_value=r["produced_readings_s"],
        ),
        Figure(
            NAME,
            "consumer lag max",
            float(r["lag_max"]),
            "records",
            higher_is_better=False,
            note=f"median {r['lag_p50']:.0f} records, sampled every second",
        ),
        Figure(
            NAME,
            "loss (readings produced - stored)",
            float(r["loss"]),
            "readings",
            goal="0",
            met=r["loss"] == 0 and r["points_loss"] == 0,
            note=f"{r['distinct_readings']} distinct readings on Kafka "
            f"({r['records_produced']} records), {r['stored_readings']} in InfluxDB; "
            f"{r['distinct_points']} values in them, {r['stored_points']} stored "
            f"(points lost: {r['points_loss']})",
            extra={
                "produced": r["distinct_readings"],
                "stored": r["stored_readings"],
                "produced_points": r["distinct_points"],
                "stored_points": r["stored_points"],
            },
        ),
        *[
            Figure(
                NAME,
                f"{name} CPU",
                c["cpu_pct"],
                "% of one core",
                higher_is_better=False,
                extra={"peak_rss_mb": c["peak_rss_mb"]},
            )
            for name, c in costs.items()
        ],
    ]
