"""WebSocket fan-out of ``/live``: many clients at 10 frames/s each, measured from Kafka and
from the user's side, then at saturation against a bare ``websockets.broadcast`` server on
the same machine.

Each client subscribes to one machine; readings of every machine arrive at 10/s, so each
client gets 10 frames/s. The clients are spread over processes (``Crowd``, one per process)
so that they are not the limit, and each process reports its own CPU beside the figures.
Latency = arrival minus the reading's ``ts`` (same clock), sampled on every tenth client,
over two paths in turn:

- from Kafka: a producer process writes the readings to the readings topic, stamping ``ts``
  as it produces; the API's live feed reads the topic and the hub fans them out;
- from the user: ``POST /api/readings`` every 100 ms with one reading per machine, ``ts``
  stamped just before the request is sent, so the figure adds the request, its produce to
  Kafka (``201`` once Kafka has it) and the API's time for both, in the process that also
  fans out.

Saturation: a burst of readings as fast as the producer can; delivered frames/s summed over
the clients, against a bare server broadcasting frames of the same size to the same number
of clients of the same harness.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import orjson

from bench import load, wsclients
from bench.core import Figure, ScenarioContext
from bench.stack import ADMIN_KEY, services
from contracts.timefmt import format_ts
from infra import ports

NAME = "ws_fanout"
TITLE = "/live fan-out: clients at 10 frames/s each, from Kafka and from POST, and saturation"
GOAL_P99_MS = 100.0
CLIENTS_PER_MACHINE = 10
FRAMES_S = 10.0
# Client processes, quick and full: 250 clients in each at full size, each well below a core.
CROWD_PROCESSES = (2, 4)
KAFKA_WHY = (
    "from the producer's timestamp (it batches for up to 10 ms): the live feed, the hub, the "
    "socket and the client"
)
POST_WHY = (
    "from a timestamp taken before the request: adds the request and its produce to Kafka "
    "(201 once Kafka has it), in the API process that also fans out"
)


@dataclass(frozen=True, slots=True)
class Steady:
    """What one steady phase measured: the crowd's merged result, the API's CPU (% of a
    core) over it, and the POST round trips when the readings came through the API."""

    crowd: dict[str, Any]
    api_cpu_pct: float
    post_ms: list[float]
    load_avg: float


def _crowds(
    url: str, clients: int, procs: int, machines: list[str], key: str | None, duration_s: float
) -> list[wsclients.Crowd]:
    per = -(-clients // procs)
    return [
        wsclients.Crowd(url, min(per, clients - o), machines, key, duration_s, offset=o)
        for o in range(0, clients, per)
    ]


def _run_crowds(crowds: list[wsclients.Crowd], start_load: Callable[[], Any]) -> dict[str, Any]:
    """Run each crowd in a process of its own; once all are connected, start the load."""
    mp = multiprocessing.get_context("spawn")
    go, out = mp.Event(), mp.Queue()
    readies = [mp.Event() for _ in crowds]
    procs = [
        mp.Process(target=c.run, args=(r, go, out), daemon=True)
        for c, r in zip(crowds, readies, strict=True)
    ]
    for p in procs:
        p.start()
    try:
        for crowd, ready in zip(crowds, readies, strict=True):
            if not ready.wait(120):
                raise RuntimeError(f"{crowd.n} WebSocket clients did not connect within 120 s")
        go.set()
        start_load()
        wait_s = max(c.duration_s for c in crowds) + 60
        return wsclients.merged([out.get(timeout=wait_s) for _ in crowds])
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()


def _post_steady(base: str, machines: list[str], duration_s: float, post_ms: list[float]) -> None:
    """Every 100 ms, one ``POST /api/readings`` with a reading of each machine, stamped just
    before it is sent; each answer's round trip goes to ``post_ms``."""
    headers = {"X-API-Key": ADMIN_KEY}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        t0 = time.monotonic()
        tick = 0
        while (elapsed := time.monotonic() - t0) < duration_s:
            if elapsed < tick / FRAMES_S:
                time.sleep(tick / FRAMES_S - elapsed)
                continue
            started = time.time()
            ts = format_ts(int(started * 1000))
            body = [
                {
                    "machine_id": m,
                    "timestamp": ts,
                    "seq": tick,
                    "temperature_c": 60.0,
                    "power_kw": 11.0 + tick % 5,
                }
                for m in machines
            ]
            response = client.post("/api/readings", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"POST /api/readings: {response.status_code} {response.text}")
            post_ms.append((time.time() - started) * 1000)
            tick += 1


async def _burst(bootstrap: str, topic: str, machines: list[str], count: int) -> None:
    from kafka_edge.aio_clients import aio_producer
    from kafka_edge.connection import KafkaConnection

    producer = aio_producer(
        KafkaConnection.plain(bootstrap), replace(load.AIOKAFKA_DEFAULTS, linger_ms=5)
    )
    await producer.start()
    try:
        for i in range(count):
            m = machines[i % len(machines)]
            value = orjson.dumps(load.reading_json(m, int(time.time() * 1000), i))
            await producer.send(topic, value, key=m.encode())
        await producer.flush()
    finally:
        await producer.stop()


def _steady(
    svc: Any,
    crowds: list[wsclients.Crowd],
    start: Callable[[list[Any]], None],
    join_s: float,
    post_ms: list[float],
) -> Steady:
    """One steady phase: ``start`` starts the load, appending what to join."""
    api = svc.psutil_process("api")
    running: list[Any] = []
    api.cpu_percent(None)
    crowd = _run_crowds(crowds, lambda: start(running))
    api_cpu = api.cpu_percent(None)
    for r in running:
        r.join(join_s)
    return Steady(crowd, api_cpu, post_ms, os.getloadavg()[0])


def _bare(clients: int, procs: int, machines: list[str], frames: int) -> dict[str, Any]:
    mp = multiprocessing.get_context("spawn")
    port = ports.free_port("127.0.0.1")
    ready, go = mp.Event(), mp.Event()
    frame_bytes = len(orjson.dumps(load.reading_json(machines[0], 0, 0)))
    server = mp.Process(
        target=wsclients.bare_server,
        daemon=True,
        args=(port, clients, frames, frame_bytes, ready, go),
    )
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("bare websockets server did not start")
        url = f"ws://127.0.0.1:{port}"
        return _run_crowds(_crowds(url, clients, procs, machines, None, 20.0), go.set)
    finally:
        server.terminate()
        server.join(10)


def _cpu(result: dict[str, Any]) -> str:
    return "/".join(f"{c:.0f}" for c in result["cpu_pct"])


def _latency(path: str, why: str, clients: int, procs: int, s: Steady, expected: float) -> Figure:
    lat = s.crowd["latencies_ms"]
    if not lat:
        raise RuntimeError(f"no reading frame reached the clients ({path})")
    p50, p99 = load.percentile(lat, 50), load.percentile(lat, 99)
    post = ""
    if s.post_ms:
        post = (
            f"; POST round trip p50 {load.percentile(s.post_ms, 50):.1f} ms, "
            f"p99 {load.percentile(s.post_ms, 99):.1f} ms"
        )
    return Figure(
        NAME,
        f"p99 latency, {path}, {clients} clients at 10 frames/s",
        p99,
        "ms",
        goal=f"<= {GOAL_P99_MS:.0f} ms",
        met=p99 <= GOAL_P99_MS,
        higher_is_better=False,
        note=f"p50 {p50:.1f} ms, max {max(lat):.1f} ms; {s.crowd['frames']} frames received "
        f"of ~{expected:.0f} sent{post}; API CPU {s.api_cpu_pct:.0f}% of a core; clients in "
        f"{procs} processes, CPU {_cpu(s.crowd)}% of a core each; load average "
        f"{s.load_avg:.1f} on {os.cpu_count()} cores; {why}",
    )


def run(ctx: ScenarioContext) -> list[Figure]:
    clients, duration_s = (100, 10.0) if ctx.quick else (1_000, 20.0)
    procs = CROWD_PROCESSES[0] if ctx.quick else CROWD_PROCESSES[1]
    burst = 5_000 if ctx.quick else 20_000
    settings = ctx.fresh_settings()
    tag = load.run_tag()
    machines = load.machine_ids(tag + "l", clients // CLIENTS_PER_MACHINE)
    bootstrap = settings.kafka_bootstrap_servers
    topic = settings.topics.readings
    mp = multiprocessing.get_context("spawn")
    with services(ctx.work_dir, ctx.env(settings)) as svc:
        # Every client of the crowd uses the one admin key: lift the per-credential socket
        # cap (20 by default) to the crowd's size, or all but 20 clients are refused and the
        # figures measure 20 clients against a bare server feeding all of them.
        base = svc.start_api(
            MILLSTREAM_API_LIVE_MAX_SUBSCRIPTIONS="10000",
            MILLSTREAM_API_LIVE_MAX_CONNECTIONS_PER_CREDENTIAL=str(clients),
        )
        url = base.replace("http://", "ws://") + "/live"

        def crowds(seconds: float) -> list[wsclients.Crowd]:
            return _crowds(url, clients, procs, machines, ADMIN_KEY, seconds)

        def from_kafka(running: list[Any]) -> None:
            args = (bootstrap, topic, tag, FRAMES_S * len(machines), duration_s, len(machines))
            p = mp.Process(target=load.steady_produce, daemon=True, args=args)
            p.start()
            running.append(p)

        post_ms: list[float] = []
        post_errors: list[BaseException] = []

        def post_all() -> None:
            try:
                _post_steady(base, machines, duration_s, post_ms)
            except Exception as exc:  # re-raised below, in the scenario's thread
                post_errors.append(exc)

        def from_post(running: list[Any]) -> None:
            t = threading.Thread(target=post_all, daemon=True)
            t.start()
            running.append(t)

        ctx.progress(f"{clients} clients at 10 frames/s for {duration_s:.0f} s, from Kafka")
        kafka = _steady(svc, crowds(duration_s + 2), from_kafka, duration_s + 10, [])
        ctx.progress(f"{clients} clients at 10 frames/s for {duration_s:.0f} s, from POST")
        post = _steady(svc, crowds(duration_s + 2), from_post, duration_s + 10, post_ms)
        if post_errors:
            raise post_errors[0]
        ctx.progress(f"saturation: burst of {burst} readings to {clients} clients")
        sat = _run_crowds(
            crowds(20.0), lambda: asyncio.run(_burst(bootstrap, topic, machines, burst))
        )
    ctx.progress("bare websockets.broadcast server")
    bare = _bare(clients, procs, machines, max(burst // len(machines), 50))
    expected = clients * FRAMES_S * duration_s
    sat_rate = sat["frames"] / sat["span_s"] if sat["span_s"] else 0.0
    bare_rate = bare["frames"] / bare["span_s"] if bare["span_s"] else 0.0
    return [
        _latency("reading in Kafka -> frame", KAFKA_WHY, clients, procs, kafka, expected),
        _latency("POST /api/readings -> frame", POST_WHY, clients, procs, post, expected),
        Figure(
            NAME,
            "frames/s delivered at saturation",
            sat_rate,
            "frames/s",
            baseline_name="bare websockets.broadcast",
            baseline_value=bare_rate,
            goal=">= 0.9x bare",
            met=bool(bare_rate) and sat_rate >= 0.9 * bare_rate,
            note=f"{sat['frames']} frames over {sat['span_s']:.1f} s from a burst of {burst} "
            f"readings; bare: {bare['frames']} frames over {bare['span_s']:.1f} s; the "
            f"hub drops reading frames for clients whose queue is full; client CPU "
            f"{_cpu(sat)}% (bare {_cpu(bare)}%) of a core per process",
        ),
    ]
