"""WebSocket fan-out of ``/live``: many clients at 10 frames/s each, then at saturation
against a bare ``websockets.broadcast`` server on the same machine.

Readings go through Kafka (the API's live feed reads the readings topic and the hub fans
them out), from a producer process at 10 readings/s per machine; each client subscribes to
one machine, so each client gets 10 frames/s. Latency = arrival minus the reading's ``ts``
(stamped when produced, same clock), sampled on every tenth client.

Saturation: a burst of readings as fast as the producer can; delivered frames/s summed over
the clients, against a bare server broadcasting frames of the same size to the same number
of clients of the same harness.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

import orjson

from bench import load, wsclients
from bench.core import Figure, ScenarioContext
from bench.stack import ADMIN_KEY, services
from infra import ports

NAME = "ws_fanout"
TITLE = "/live fan-out: clients at 10 frames/s each, and saturation vs bare websockets.broadcast"
GOAL_P99_MS = 100.0
CLIENTS_PER_MACHINE = 10


def _crowd(crowd: wsclients.Crowd, start_load: Any) -> dict[str, Any]:
    mp = multiprocessing.get_context("spawn")
    ready, go, out = mp.Event(), mp.Event(), mp.Queue()
    proc = mp.Process(target=crowd.run, args=(ready, go, out), daemon=True)
    proc.start()
    try:
        if not ready.wait(120):
            raise RuntimeError(f"{crowd.n} WebSocket clients did not connect within 120 s")
        go.set()
        start_load()
        result: dict[str, Any] = out.get(timeout=crowd.duration_s + 60)
        return result
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.terminate()


async def _burst(bootstrap: str, topic: str, machines: list[str], count: int) -> None:
    from dataclasses import replace

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


def run(ctx: ScenarioContext) -> list[Figure]:
    clients, duration_s = (100, 10.0) if ctx.quick else (1_000, 20.0)
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
        loader: list[Any] = []

        def start_steady() -> None:
            p = mp.Process(
                target=load.steady_produce,
                daemon=True,
                args=(bootstrap, topic, tag, 10.0 * len(machines), duration_s, len(machines)),
            )
            p.start()
            loader.append(p)

        ctx.progress(f"{clients} clients at 10 frames/s for {duration_s:.0f} s")
        steady = _crowd(
            wsclients.Crowd(url, clients, machines, ADMIN_KEY, duration_s + 2), start_steady
        )
        for p in loader:
            p.join(duration_s + 10)
        ctx.progress(f"saturation: burst of {burst} readings to {clients} clients")
        sat = _crowd(
            wsclients.Crowd(url, clients, machines, ADMIN_KEY, 20.0),
            lambda: asyncio.run(_burst(bootstrap, topic, machines, burst)),
        )
    ctx.progress("bare websockets.broadcast server")
    port = ports.free_port("127.0.0.1")
    ready, go = mp.Event(), mp.Event()
    frame_bytes = len(orjson.dumps(load.reading_json(machines[0], 0, 0)))
    bare_frames = max(burst // len(machines), 50)
    server = mp.Process(
        target=wsclients.bare_server,
        daemon=True,
        args=(port, clients, bare_frames, frame_bytes, ready, go),
    )
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("bare websockets server did not start")
        bare_crowd = wsclients.Crowd(f"ws://127.0.0.1:{port}", clients, machines, None, 20.0)
        bare = _crowd(bare_crowd, go.set)
    finally:
        server.terminate()
        server.join(10)
    lat = steady["latencies_ms"]
    if not lat:
        raise RuntimeError("no reading frame reached the clients in the steady phase")
    expected = clients * 10 * duration_s
    p50, p99 = load.percentile(lat, 50), load.percentile(lat, 99)
    sat_rate = sat["frames"] / sat["span_s"] if sat["span_s"] else 0.0
    bare_rate = bare["frames"] / bare["span_s"] if bare["span_s"] else 0.0
    return [
        Figure(
            NAME,
            f"p99 latency, {clients} clients at 10 frames/s",
            p99,
            "ms",
            goal=f"<= {GOAL_P99_MS:.0f} ms",
            met=p99 <= GOAL_P99_MS,
            higher_is_better=False,
            note=f"p50 {p50:.1f} ms, max {max(lat):.1f} ms; {steady['frames']} frames "
            f"received of ~{expected:.0f} sent",
        ),
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
            f"hub drops reading frames for clients whose queue is full",
        ),
    ]
