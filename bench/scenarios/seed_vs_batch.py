"""The seed's way against Millstream's: the same readings three ways into the readings topic.

- seed: the guide's SCADA loop, one ``requests.post``-style call per reading (a new HTTP
  connection each time, as ``requests.post`` without a session does), sequential;
- batched: ``POST /api/readings`` with a JSON array of ``BATCH`` readings on one connection;
- connector path: the connector's own ``ReadingPublisher`` (kafka-python, idempotent, acks=all)
  publishing the same readings, flushed.

Each count is checked on the topic afterwards (end offsets), so a path that drops readings
cannot look fast.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import httpx
import orjson

from bench import load, profile
from bench.core import Figure, ScenarioContext
from bench.stack import ADMIN_KEY, services

NAME = "seed_vs_batch"
TITLE = "One POST per reading (the seed) vs batched POST /api/readings vs the connector path"
BATCH = 100


def _flat(machines: list[str], count: int, start_ms: int) -> list[dict[str, Any]]:
    import datetime as dt

    out = []
    for i in range(count):
        ts = dt.datetime.fromtimestamp((start_ms + i) / 1000, dt.UTC)
        out.append(
            {
                "machine_id": machines[i % len(machines)],
                "timestamp": ts.isoformat().replace("+00:00", "Z"),
                "temperature_c": 60.0 + i % 20,
                "pressure_bar": 4.25,
                "vibration_mm_s": 2.5,
            }
        )
    return out


def _seed_loop(base: str, readings: list[dict[str, Any]]) -> float:
    """One POST per reading on a new TCP connection each, like ``requests.post`` without a
    session (plain ``http.client``, so no client-side set-up cost is charged to the seed)."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base)
    headers = {"X-API-Key": ADMIN_KEY, "Content-Type": "application/json"}
    t0 = time.perf_counter()
    for r in readings:
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        try:
            conn.request("POST", "/api/readings", body=orjson.dumps(r), headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 201:
            raise RuntimeError(f"seed POST answered {resp.status}: {body[:200]!r}")
    return len(readings) / (time.perf_counter() - t0)


def _seed_keepalive(base: str, readings: list[dict[str, Any]]) -> float:
    """The seed's loop on one kept-alive connection (a ``requests.Session``)."""
    return _posted_per_s(base, readings, len(readings), "seed", timeout_s=30)


def _batched(base: str, readings: list[dict[str, Any]]) -> float:
    batches = (readings[i : i + BATCH] for i in range(0, len(readings), BATCH))
    return _posted_per_s(base, batches, len(readings), "batched", timeout_s=60)


def _posted_per_s(
    base: str, bodies: Iterable[Any], readings: int, what: str, *, timeout_s: float
) -> float:
    """Readings/s of POSTing each of ``bodies`` to ``/api/readings`` on one kept-alive
    connection; ``readings`` is how many they hold in all."""
    headers = {"X-API-Key": ADMIN_KEY}
    with httpx.Client(base_url=base, headers=headers, timeout=timeout_s) as client:
        t0 = time.perf_counter()
        for body in bodies:
            resp = client.post("/api/readings", json=body)
            if resp.status_code != 201:
                raise RuntimeError(f"{what} POST answered {resp.status_code}: {resp.text[:200]}")
        return readings / (time.perf_counter() - t0)


def _connector_path(bootstrap: str, prefix: str, readings: list[dict[str, Any]]) -> float:
    from api.flat import reading_from_flat
    from connectors.config.settings import ConnectorSettings
    from connectors.forwarding.producer import ReadingPublisher, build_kafka_producer
    from contracts.topics import TopicNames
    from kafka_edge.records import Record

    settings = ConnectorSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix)
    prefix_topics = TopicNames.with_prefix(prefix)
    now = int(time.time() * 1000)
    parsed = [reading_from_flat(r, source="bench", received_ms=now) for r in readings]
    publisher = ReadingPublisher(
        producer_factory=lambda: build_kafka_producer(settings),
        topics=prefix_topics,
    )
    asyncio.run(publisher.start())
    producer = publisher._producer  # the publisher owns no flush of its own here
    try:
        t0 = time.perf_counter()
        for r in parsed:
            publisher.enqueue(prefix_topics.readings, [Record(r.key(), r.encode())])
        producer.flush(timeout=60)
        rate = len(parsed) / (time.perf_counter() - t0)
    finally:
        producer.close(timeout=10)
    if publisher.stats.failed:
        raise RuntimeError(f"connector path: {publisher.stats.failed} readings failed")
    return rate


def run(ctx: ScenarioContext) -> list[Figure]:
    n = 300 if ctx.quick else 1_000
    settings = ctx.fresh_settings()
    tag = load.run_tag()
    readings = _flat(load.machine_ids(tag, 20), n, int(time.time() * 1000) - 3_600_000)
    bootstrap = settings.kafka_bootstrap_servers
    topic = settings.topics.readings
    with services(ctx.work_dir, ctx.env(settings)) as svc:
        base = svc.start_api()
        ctx.progress(f"seed loop, {n} POSTs")
        spy_out = ctx.work_dir / "api.pyspy.txt"
        spy = profile.start(svc.pid("api"), 10, spy_out)
        seed = _seed_loop(base, readings)
        api_profile = profile.finish(spy, spy_out, timeout_s=30)
        ctx.progress(f"seed loop on one connection, {n} POSTs")
        keepalive = _seed_keepalive(base, readings)
        after_seed = load.end_offsets_total(bootstrap, topic)  # both seed loops: 2n
        ctx.progress(f"batched, {-(-n // BATCH)} POST(s) of up to {BATCH}")
        batched = _batched(base, readings)
        after_batch = load.end_offsets_total(bootstrap, topic)
    ctx.progress("connector path")
    connector = _connector_path(bootstrap, settings.topic_prefix, readings)
    after_connector = load.end_offsets_total(bootstrap, topic)
    counts = (after_seed, after_batch - after_seed, after_connector - after_batch)
    if counts != (2 * n, n, n):
        raise RuntimeError(f"readings on the topic per path {counts}, expected {(2 * n, n, n)}")
    return [
        Figure(
            NAME,
            "seed loop (one POST per reading)",
            seed,
            "readings/s",
            note=f"{n} readings, sequential, a new connection per POST like requests.post",
        ),
        Figure(
            NAME,
            "seed loop on one kept-alive connection",
            keepalive,
            "readings/s",
            baseline_name="seed loop",
            baseline_value=seed,
            note="the same one-POST-per-reading loop with a session: what connection set-up "
            "costs; profile: the API during the seed loop",
            extra={"profile": api_profile},
        ),
        Figure(
            NAME,
            f"batched POST /api/readings ({BATCH} per request)",
            batched,
            "readings/s",
            baseline_name="seed loop",
            baseline_value=seed,
            goal="> seed loop",
            met=batched > seed,
        ),
        Figure(
            NAME,
            "connector path (ReadingPublisher -> Kafka)",
            connector,
            "readings/s",
            baseline_name="seed loop",
            baseline_value=seed,
            goal="> seed loop",
            met=connector > seed,
        ),
    ]
