"""One connector process polling many small devices, against a bare pymodbus loop.

One simulator process serves N devices on one port (unit ids 1..N), each the example
device of ``devices.example.yaml`` (3 requests per scan: 10 holding registers, one coil,
one discrete input), all polled every ``poll_interval_s`` (N / interval scans/s offered).
Full mode measures two loads: 200 devices at 50 Hz (more than one process can poll on a
2-core machine, the bare loop included) and 200 devices at 10 Hz.

- Subject: ``python -m connectors`` (its own process, spool and Kafka producer, as
  deployed) polls every device for ``duration_s``; scans/s are read from its Prometheus
  ``millstream_connector_polls_total`` and readings/s from the readings topic's end
  offsets, both over the same window after a warm-up.
- Baseline: in this process, a bare loop of N pymodbus ``AsyncModbusTcpClient``s sends
  the same 3 requests per device on the same interval grid (missed slots skipped, as the
  connector does), against the same simulator, in the same session.

At 50 Hz, two connector processes sharing the devices file (``--shard 0/2`` and
``1/2``) are measured as a third side. Rounds alternate which side runs first; medians
are kept. CPU (% of one core) of the
connector, the bare loop and the simulator is reported, so a simulator that caps both
sides shows up as such. A py-spy profile of the connector (when py-spy is installed) is
attached to the figure. The goal (0.8x the bare loop at 50 Hz) is per CPU-second, on the
CPU-per-scan figure: the scans/s ratio also moves with how much of a core each side got.
Run it with ``python -m bench --only connector_many_devices``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from pymodbus.client import AsyncModbusTcpClient

from bench import load, profile
from bench.core import Figure, ScenarioContext
from bench.stack import services, wait_modbus_listening
from connectors.config.devices import Device, load_devices
from connectors.modbus.scan import ReadRequest, plan_device
from infra import ports

NAME = "connector_many_devices"
TITLE = "One connector polling many small devices at 50 Hz vs a bare pymodbus loop"

GOAL_RATIO = 0.8
# The goal is set at 50 Hz, the rate plants ask of one connector.
GOAL_INTERVAL_S = 0.02
SHARDS = 2


@dataclass(frozen=True, slots=True)
class Side:
    """Scans/s achieved and CPU used by one side over one window."""

    scans_s: float
    cpu_pct: float
    simulator_cpu_pct: float
    readings_s: float = 0.0


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def _bare_loop(
    devices: tuple[Device, ...], *, interval_s: float, warmup_s: float, duration_s: float
) -> int:
    """Scans completed by bare pymodbus clients during ``duration_s`` after ``warmup_s``."""
    clients = [AsyncModbusTcpClient(d.host, port=d.port, retries=0, timeout=2) for d in devices]
    for client in clients:
        await client.connect()
    loop = asyncio.get_running_loop()
    start_s = loop.time() + warmup_s
    end_s = start_s + duration_s
    count = 0

    async def one(
        client: AsyncModbusTcpClient, device: Device, plan: tuple[ReadRequest, ...]
    ) -> None:
        nonlocal count
        reads = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }
        due_s = loop.time()
        while (now_s := loop.time()) < end_s:
            if due_s > now_s:
                await asyncio.sleep(due_s - now_s)
            for request in plan:
                await reads[request.table](
                    request.address, count=request.count, device_id=device.device_id
                )
            if start_s <= loop.time() < end_s:
                count += 1
            due_s += interval_s
            now_s = loop.time()
            if due_s < now_s:  # skip missed slots, as the connector does
                due_s += ((now_s - due_s) // interval_s + 1) * interval_s

    try:
        await asyncio.gather(
            *(one(c, d, plan_device(d)) for c, d in zip(clients, devices, strict=True))
        )
    finally:
        for client in clients:
            client.close()
    return count


def _bare(
    devices: tuple[Device, ...], sim: psutil.Process, *, interval_s: float, duration_s: float
) -> Side:
    me = psutil.Process()
    warmup_s = 2.0
    result: dict[str, float] = {}

    async def main() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(
            _bare_loop(devices, interval_s=interval_s, warmup_s=warmup_s, duration_s=duration_s)
        )
        await asyncio.sleep(warmup_s)
        result["cpu0"], result["sim0"], result["t0"] = _cpu_s(me), _cpu_s(sim), loop.time()
        await asyncio.sleep(duration_s)
        result["cpu1"], result["sim1"], result["t1"] = _cpu_s(me), _cpu_s(sim), loop.time()
        return await task

    scans = asyncio.run(main())
    elapsed = result["t1"] - result["t0"]
    return Side(
        scans / duration_s,
        100 * (result["cpu1"] - result["cpu0"]) / elapsed,
        100 * (result["sim1"] - result["sim0"]) / elapsed,
    )


def _polls_total(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=10) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("millstream_connector_polls_total{")
    )


def _connector(
    ctx: ScenarioContext,
    devices_path: Path,
    sim: psutil.Process,
    work: Path,
    *,
    duration_s: float,
    profile_out: Path | None,
    shards: int = 1,
) -> tuple[Side, str]:
    """``shards`` connector processes (``MILLSTREAM_CONNECTOR_SHARD=i/n`` when more than
    one) polling the devices file; their scans, readings and CPU added up."""
    settings = ctx.fresh_settings()
    topic = settings.topics.readings
    bootstrap = settings.kafka_bootstrap_servers
    tag = load.run_tag()
    names = [f"connector-{i}" for i in range(shards)]
    urls = []
    with services(work, ctx.env(settings)) as svc:
        for i, name in enumerate(names):
            metrics_port = ports.free_port("127.0.0.1")
            urls.append(f"http://127.0.0.1:{metrics_port}/metrics")
            svc.start_connector(
                name,
                devices_path,
                shard=i,
                shards=shards,
                MILLSTREAM_CONNECTOR_ID=f"bench-many-{tag}",
                MILLSTREAM_CONNECTOR_SPOOL_DIR=str(work / "spool"),
                MILLSTREAM_CONNECTOR_METRICS_PORT=str(metrics_port),
                MILLSTREAM_CONNECTOR_LOG_LEVEL="WARNING",
            )
        procs = [svc.psutil_process(n) for n in names]

        def polls() -> float:
            return sum(_polls_total(url) for url in urls)

        def cpu() -> float:
            return sum(_cpu_s(p) for p in procs)

        def snapshot() -> tuple[float, int, float, float, float]:
            """Polls, readings in Kafka, the connectors' and the simulator's CPU-s, time."""
            return (
                polls(),
                load.end_offsets_total(bootstrap, topic),
                cpu(),
                _cpu_s(sim),
                time.monotonic(),
            )

        deadline = time.monotonic() + 60
        while True:  # warm-up: metrics served and readings reaching Kafka
            svc.check_running(names, during="warm-up")
            try:
                if all(_polls_total(u) > 0 for u in urls) and load.end_offsets_total(
                    bootstrap, topic
                ):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the connector produced nothing in 60 s; see {work}/logs")
            time.sleep(0.5)
        time.sleep(2.0)
        spy = (
            profile.start(procs[0].pid, min(duration_s, 20.0), profile_out) if profile_out else None
        )
        p0, o0, c0, s0, t0 = snapshot()
        time.sleep(duration_s)
        p1, o1, c1, s1, t1 = snapshot()
        summary = profile.finish(spy, profile_out, timeout_s=30) if spy and profile_out else ""
        for name in names:
            svc.stop(name)
    elapsed = t1 - t0
    side = Side(
        (p1 - p0) / elapsed,
        100 * (c1 - c0) / elapsed,
        100 * (s1 - s0) / elapsed,
        readings_s=(o1 - o0) / elapsed,
    )
    return side, summary


def measure(
    ctx: ScenarioContext,
    *,
    machines: int,
    interval_s: float,
    duration_s: float,
    rounds: int,
    shards: int = 1,
) -> dict[str, Any]:
    """Alternating rounds of connector and bare loop against one simulator (and of
    ``shards`` sharded connector processes, when more than one)."""
    work = ctx.work_dir / NAME
    work.mkdir(parents=True, exist_ok=True)
    port = ports.free_port("127.0.0.1")
    devices_path = load.devices_file(
        work / "devices.yaml",
        load.machine_ids(load.run_tag(), machines),
        port=port,
        poll_interval_s=interval_s,
    )
    devices = load_devices(devices_path)
    sides: dict[str, list[Side]] = {"connector": [], "bare": []}
    if shards > 1:
        sides["sharded"] = []
    summary = ""
    with services(work, {}) as svc:
        svc.start(
            "simulator",
            [
                "-m",
                "connectors.simulator",
                "--devices",
                str(devices_path),
                "--overheat-every-s",
                "0",
                "--log-level",
                "WARNING",
            ],
        )
        asyncio.run(wait_modbus_listening([(devices[0].host, devices[0].port)], timeout_s=30))
        sim = svc.psutil_process("simulator")
        for i in range(rounds):
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            for side in order:
                ctx.progress(f"round {i + 1}/{rounds}: {side}, {machines} devices")
                if side == "bare":
                    result = _bare(devices, sim, interval_s=interval_s, duration_s=duration_s)
                else:
                    out = work / "connector.pyspy.txt" if i == 0 and side == "connector" else None
                    result, text = _connector(
                        ctx,
                        devices_path,
                        sim,
                        work,
                        duration_s=duration_s,
                        profile_out=out,
                        shards=shards if side == "sharded" else 1,
                    )
                    summary = summary or text
                sides[side].append(result)
    return {
        "offered_scans_s": machines / interval_s,
        **{side: _median(results) for side, results in sides.items()},
        "rounds": sides,
        "profile": summary,
    }


def _median(sides: list[Side]) -> Side:
    return Side(
        statistics.median(s.scans_s for s in sides),
        statistics.median(s.cpu_pct for s in sides),
        statistics.median(s.simulator_cpu_pct for s in sides),
        statistics.median(s.readings_s for s in sides),
    )


def run(ctx: ScenarioContext) -> list[Figure]:
    # (devices, interval): 50 Hz is more than one process on the 2-core development
    # machine can poll (the bare loop included); 10 Hz is what it should keep up with.
    # At 50 Hz, two connector processes (--shard 0/2, 1/2) are measured too.
    points = [(50, 0.02, 1)] if ctx.quick else [(200, 0.02, SHARDS), (200, 0.1, 1)]
    duration_s, rounds = (6.0, 2) if ctx.quick else (12.0, 3)
    figures: list[Figure] = []
    for machines, interval_s, shards in points:
        r = measure(
            ctx,
            machines=machines,
            interval_s=interval_s,
            duration_s=duration_s,
            rounds=rounds,
            shards=shards,
        )
        figures += _figures(ctx, r, machines=machines, interval_s=interval_s)
        if "sharded" in r:
            figures.append(_sharded_figure(ctx, r, machines=machines, interval_s=interval_s))
    return figures


def _sharded_figure(
    ctx: ScenarioContext, r: dict[str, Any], *, machines: int, interval_s: float
) -> Figure:
    sharded: Side = r["sharded"]
    conn: Side = r["connector"]
    bare: Side = r["bare"]
    load = f"{machines} devices every {interval_s * 1000:.0f} ms"
    ctx.progress(
        f"{load}: {SHARDS} sharded connectors {sharded.scans_s:.0f} scans/s "
        f"({sharded.cpu_pct:.0f}% CPU in all) vs one connector {conn.scans_s:.0f}/s"
    )
    return Figure(
        NAME,
        f"{SHARDS} connector processes (--shard i/{SHARDS}) scans/s, {load}",
        sharded.scans_s,
        "scans/s",
        baseline_name="bare pymodbus AsyncModbusTcpClient loop (one process)",
        baseline_value=bare.scans_s,
        note=(
            f"one connector: {conn.scans_s:.0f} scans/s; the {SHARDS} shards used "
            f"{sharded.cpu_pct:.0f}% CPU in all, the simulator {sharded.simulator_cpu_pct:.0f}%"
        ),
        extra={"sharded": vars_of(sharded), "rounds": [vars_of(s) for s in r["rounds"]["sharded"]]},
    )


def _figures(
    ctx: ScenarioContext, r: dict[str, Any], *, machines: int, interval_s: float
) -> list[Figure]:
    conn: Side = r["connector"]
    bare: Side = r["bare"]
    offered = r["offered_scans_s"]
    ratio = conn.scans_s / bare.scans_s if bare.scans_s else 0.0
    load = f"{machines} devices every {interval_s * 1000:.0f} ms"
    ctx.progress(
        f"{load}, offered {offered:.0f} scans/s: connector {conn.scans_s:.0f}/s "
        f"({conn.readings_s:.0f} readings/s to Kafka, {conn.cpu_pct:.0f}% CPU), bare pymodbus "
        f"{bare.scans_s:.0f}/s ({bare.cpu_pct:.0f}% CPU), ratio {ratio:.2f}x; simulator "
        f"{conn.simulator_cpu_pct:.0f}% / {bare.simulator_cpu_pct:.0f}% CPU"
    )
    conn_us = 1e4 * conn.cpu_pct / conn.scans_s if conn.scans_s else 0.0
    bare_us = 1e4 * bare.cpu_pct / bare.scans_s if bare.scans_s else 0.0
    return [
        Figure(
            NAME,
            f"connector scans/s, {load}",
            conn.scans_s,
            "scans/s",
            baseline_name="bare pymodbus AsyncModbusTcpClient loop, same reads and grid",
            baseline_value=bare.scans_s,
            note=(
                f"offered {offered:.0f} scans/s; connector {conn.cpu_pct:.0f}% CPU, "
                f"{conn.readings_s:.0f} readings/s reached Kafka; bare loop "
                f"{bare.cpu_pct:.0f}% CPU; simulator {conn.simulator_cpu_pct:.0f}% CPU "
                f"under the connector, {bare.simulator_cpu_pct:.0f}% under the bare loop"
            ),
            extra={
                "offered_scans_s": offered,
                "connector": vars_of(conn),
                "bare": vars_of(bare),
                "rounds": {k: [vars_of(s) for s in v] for k, v in r["rounds"].items()},
                "profile": r["profile"],
            },
        ),
        Figure(
            NAME,
            f"connector CPU per scan, {load}",
            conn_us,
            "us/scan",
            baseline_name="bare pymodbus loop CPU per scan",
            baseline_value=bare_us,
            higher_is_better=False,
            goal=f">= {GOAL_RATIO}x per CPU-second" if interval_s <= GOAL_INTERVAL_S else "",
            met=(bool(conn_us) and bare_us / conn_us >= GOAL_RATIO)
            if interval_s <= GOAL_INTERVAL_S
            else None,
            note=(
                "the connector also spools, produces to Kafka and checks staleness; "
                f"{conn.readings_s / conn.scans_s if conn.scans_s else 0.0:.2f} readings "
                "published per scan (a tag turns stale between scans when its device is slow)"
            ),
        ),
        Figure(
            NAME,
            f"connector scans/s achieved vs offered, {load}",
            conn.scans_s,
            "scans/s",
            baseline_name="offered scans/s",
            baseline_value=offered,
            note=f"bare pymodbus loop achieved {bare.scans_s:.0f}/s",
        ),
    ]


def vars_of(side: Side) -> dict[str, float]:
    return {
        "scans_s": side.scans_s,
        "cpu_pct": side.cpu_pct,
        "simulator_cpu_pct": side.simulator_cpu_pct,
        "readings_s": side.readings_s,
    }
