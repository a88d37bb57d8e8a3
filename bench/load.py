"""Load generators, bare baseline stages and counters the end-to-end scenarios share.

Every generator is bounded in count and time and talks only to loopback servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from contracts import influx_schema
from contracts.settings import CommonSettings
from kafka_edge.connection import KafkaConnection, ProducerSettings

# The load generators' and probes' producers are built by the edge with their library's own
# defaults, as the figures of earlier runs were taken: aiokafka's (acks=1, no compression)
# and kafka-python's (acks=all, idempotent, no compression).
AIOKAFKA_DEFAULTS = ProducerSettings(acks=1, compression="none")
KAFKA_PYTHON_DEFAULTS = ProducerSettings(compression="none")

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

SENSORS = ("temperature_c", "vibration_mm_s", "power_kw", "spindle_rpm", "oil_pressure_bar")
EXAMPLE_DEVICES = Path(__file__).resolve().parent.parent / "devices.example.yaml"
# Tags of each simulated machine in the end-to-end scenarios: a machine tool exposes 20-60,
# most of them float32 values read in one block (see :func:`devices_file`).
TAGS_PER_MACHINE = 30


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest-rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def run_tag() -> str:
    """A short tag making a scenario's machine ids its own in the shared InfluxDB bucket."""
    return "b" + uuid.uuid4().hex[:7]


def machine_ids(tag: str, count: int) -> list[str]:
    return [f"{tag}-{i:04d}" for i in range(count)]


def extra_tag(i: int) -> str:
    """The name of a bench machine's ``i``-th tag beyond the example device's (from 1)."""
    return f"tag_{i:02d}"


def reading_json(
    machine: str, ts_ms: int, seq: int, temp_c: float = 60.0, *, tags: int = 0
) -> dict[str, Any]:
    """A reading in the contract's shape, as connectors produce it: the five sensors, plus
    ``extra_tag`` values up to ``tags`` values when ``tags`` is more than five."""
    values = {
        "temperature_c": temp_c,
        "vibration_mm_s": 2.5 + seq % 7 / 10,
        "power_kw": 11.0 + seq % 5,
        "spindle_rpm": 1200.0 + seq % 100,
        "oil_pressure_bar": 4.25,
    }
    for i in range(1, tags - len(values) + 1):
        values[extra_tag(i)] = 50.0 + (seq + i) % 20 / 2
    return {
        "machine_id": machine,
        "ts": dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z"),
        "seq": seq,
        "source": "bench",
        "plant": "bench",
        "line": "l1",
        "values": values,
        "quality": {},
    }


def example_tags() -> int:
    """Tags of the example device (every one a value of each reading)."""
    return len(yaml.safe_load(EXAMPLE_DEVICES.read_text())["devices"][0]["registers"])


def devices_file(
    path: Path, machines: Sequence[str], *, port: int, poll_interval_s: float, tags: int = 0
) -> Path:
    """A devices file serving ``machines`` on one simulator port (unit ids 1..N, at most 255
    per port), with the example device's registers; with ``tags`` more than the example's,
    the rest are float32 input registers from address 0 on, one contiguous block (one read
    request, as a PLC's process image is read). Every reading then carries ``tags`` values
    (at least the example's)."""
    example = yaml.safe_load(EXAMPLE_DEVICES.read_text())["devices"][0]
    if len(machines) > 255:
        raise ValueError(f"at most 255 machines per simulator port, got {len(machines)}")
    extra = [
        {"name": extra_tag(i), "table": "input", "address": 2 * (i - 1), "type": "float32"}
        for i in range(1, tags - len(example["registers"]) + 1)
    ]
    if 2 * len(extra) > 125:
        raise ValueError(f"at most 62 extra float32 tags fit one read request, got {len(extra)}")
    devices = []
    for unit, machine in enumerate(machines, start=1):
        d = {k: v for k, v in example.items() if k not in {"name", "location"}}
        d["registers"] = [*example["registers"], *extra]
        d.update(
            machine_id=machine,
            host="127.0.0.1",
            port=port,
            device_id=unit,
            poll_interval_s=poll_interval_s,
            plant="bench",
            line="l1",
        )
        devices.append(d)
    path.write_text(yaml.safe_dump({"devices": devices}, sort_keys=False))
    return path


# --- Kafka offsets -------------------------------------------------------------------------


def end_offsets_total(bootstrap: str, topic: str) -> int:
    """Records ever written to ``topic`` (sum of the partitions' end offsets)."""
    from kafka import TopicPartition

    from kafka_edge.sync_clients import kafka_observer

    consumer = kafka_observer(KafkaConnection.plain(bootstrap), request_timeout_ms=15_000)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        return int(sum(consumer.end_offsets(tps).values()))
    finally:
        consumer.close()


def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """Offsets ``group`` committed on ``topic``, summed over partitions."""
    from kafka_edge.sync_clients import kafka_admin

    admin = kafka_admin(KafkaConnection.plain(bootstrap), request_timeout_ms=15_000)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
        return int(sum(m.offset for tp, m in offsets.items() if tp.topic == topic and m.offset > 0))
    finally:
        admin.close()


# --- InfluxDB counting -----------------------------------------------------------------------


def influx_count_readings(settings: CommonSettings, tag: str, *, timeout_s: float = 60) -> int:
    """Readings of machines tagged ``tag`` stored in the telemetry bucket (one row per
    reading, counted on ``temperature_c``, which every reading carries)."""
    flux = (
        f'from(bucket: "{settings.influx_bucket}") |> range(start: 0) '
        f'|> filter(fn: (r) => r._measurement == "{influx_schema.READINGS}" '
        f'and r._field == "temperature_c") '
        f"|> filter(fn: (r) => r.machine_id =~ /^{tag}-/) "
        "|> group() |> count()"
    )
    return _influx_count(settings, flux, timeout_s)


def influx_count_points(settings: CommonSettings, tag: str, *, timeout_s: float = 120) -> int:
    """Values (data points: every field of every reading but the ``_quality`` fields of
    values not good) of machines tagged ``tag`` stored in the telemetry bucket."""
    flux = (
        f'from(bucket: "{settings.influx_bucket}") |> range(start: 0) '
        f'|> filter(fn: (r) => r._measurement == "{influx_schema.READINGS}") '
        f"|> filter(fn: (r) => r.machine_id =~ /^{tag}-/ "
        f"and not r._field =~ /{influx_schema.QUALITY_SUFFIX}$/) "
        '|> count() |> group() |> sum(column: "_value")'
    )
    return _influx_count(settings, flux, timeout_s)


def _influx_count(settings: CommonSettings, flux: str, timeout_s: float) -> int:
    """The sum of the values of a counting Flux query's rows."""
    from influxdb_client import InfluxDBClient

    with InfluxDBClient(
        url=settings.influx_url,
        token=settings.influx_token.get_secret_value(),
        org=settings.influx_org,
        timeout=int(timeout_s * 1000),
    ) as client:
        tables = client.query_api().query(flux)
        return int(sum(rec.get_value() for t in tables for rec in t.records))


# --- bare stages -----------------------------------------------------------------------------


async def bare_produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """Records/s of a bare aiokafka producer sending ``records`` (acks=all, lz4 off)."""
    from aiokafka import AIOKafkaProducer

    # bare baseline: aiokafka's producer as it comes, to compare the pipeline with
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, acks="all", max_batch_size=262_144
    )
    await producer.start()
    try:
        t0 = time.perf_counter()
        pending = []
        for key, value in records:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return len(records) / (time.perf_counter() - t0)
    finally:
        await producer.stop()


def consumer_from_start(bootstrap: str, topic: str, group: str, **options: Any) -> AIOKafkaConsumer:
    """A bare aiokafka consumer (not yet started) of ``topic`` from its first record, in a
    consumer group of its own named ``<group>-<random>``, committing only when told to: the
    bare stages' (what is not a baseline reads with ``kafka_edge``'s ``aio_observer``)."""
    from aiokafka import AIOKafkaConsumer

    # bare baseline: aiokafka's consumer as it comes, to compare the pipeline with
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{group}-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **options,
    )


async def bare_consume(bootstrap: str, topic: str, count: int, timeout_s: float) -> float:
    """Records/s of a bare aiokafka consumer reading and decoding ``count`` records."""
    consumer = consumer_from_start(
        bootstrap, topic, "bench-bare", max_partition_fetch_bytes=4 * 1024 * 1024
    )
    await consumer.start()
    try:
        seen = 0
        first: float | None = None
        deadline = time.monotonic() + timeout_s
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                if first is None:
                    first = time.perf_counter()
                for r in records:
                    orjson.loads(r.value)
                seen += len(records)
        if first is None or seen < count:
            raise RuntimeError(f"bare consumer saw {seen} of {count} records in {timeout_s} s")
        return count / (time.perf_counter() - first)
    finally:
        await consumer.stop()


async def bare_write(
    settings: CommonSettings, lines: list[str], batch: int = 5_000, bucket: str | None = None
) -> float:
    """Lines/s of a bare line-protocol writer into the same InfluxDB (two writes in flight),
    into the telemetry bucket unless ``bucket`` names another."""
    from influxdb_client import WritePrecision
    from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

    client = InfluxDBClientAsync(
        url=settings.influx_url,
        token=settings.influx_token.get_secret_value(),
        org=settings.influx_org,
        timeout=60_000,
    )
    try:
        api = client.write_api()
        sem = asyncio.Semaphore(2)

        async def one(chunk: list[str]) -> None:
            async with sem:
                await api.write(
                    bucket=bucket or settings.influx_bucket,
                    record=chunk,
                    write_precision=WritePrecision.MS,
                )

        t0 = time.perf_counter()
        await asyncio.gather(*(one(lines[i : i + batch]) for i in range(0, len(lines), batch)))
        return len(lines) / (time.perf_counter() - t0)
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def bare_lines(tag: str, count: int, start_ms: int, *, tags: int = 0) -> list[str]:
    """Line protocol for ``count`` readings of the five sensors, plus ``extra_tag`` fields
    up to ``tags`` values (the worker's shape)."""
    extra = "".join(f",{extra_tag(i)}=50.5" for i in range(1, tags - len(SENSORS) + 1))
    out = []
    for i in range(count):
        m = f"{tag}-bare{i % 50:02d}"
        out.append(
            f"{influx_schema.READINGS},line=l1,machine_id={m},plant=bench "
            f"temperature_c=60.5,vibration_mm_s=2.5,power_kw=11.0,spindle_rpm=1200.0,"
            f"oil_pressure_bar=4.25{extra} {start_ms + i}"
        )
    return out


def bare_records(
    tag: str, count: int, start_ms: int, *, tags: int = 0
) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(count):
        m = f"{tag}-bare{i % 50:02d}"
        out.append((m.encode(), orjson.dumps(reading_json(m, start_ms + i, i, tags=tags))))
    return out


def bare_stage_rates(
    settings: CommonSettings, tag: str, count: int, timeout_s: float, *, tags: int = 0
) -> dict[str, float]:
    """Readings/s of each bare stage over ``count`` readings of ``tags`` values (at least
    the five sensors), on a topic of its own."""
    bootstrap = settings.kafka_bootstrap_servers
    topic = f"{settings.topic_prefix}.bare"
    from kafka.admin import NewTopic

    from kafka_edge.sync_clients import kafka_admin

    admin = kafka_admin(KafkaConnection.plain(bootstrap))
    try:
        admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    finally:
        admin.close()
    start_ms = int(time.time() * 1000) - 3_600_000
    records = bare_records(tag, count, start_ms, tags=tags)
    produce = asyncio.run(bare_produce(bootstrap, topic, records))
    consume = asyncio.run(bare_consume(bootstrap, topic, count, timeout_s))
    write = asyncio.run(bare_write(settings, bare_lines(tag, count, start_ms, tags=tags)))
    return {
        "bare producer": produce,
        "bare aiokafka consumer": consume,
        "bare line-protocol writer": write,
    }


def wait_group_stable(bootstrap: str, group: str, timeout_s: float) -> bool:
    """Wait until consumer group ``group`` has members and a stable assignment."""
    from kafka_edge.sync_clients import kafka_admin

    admin = kafka_admin(KafkaConnection.plain(bootstrap), request_timeout_ms=15_000)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                desc = admin.describe_groups([group]).get(group, {})
                if desc.get("group_state") == "Stable" and desc.get("members"):
                    return True
            time.sleep(0.5)
        return False
    finally:
        admin.close()


def steady_produce(
    bootstrap: str, topic: str, tag: str, readings_s: float, duration_s: float, machines: int = 50
) -> None:
    """Produce readings of ``machines`` machines at ``readings_s`` for ``duration_s`` (a
    background load; run it in a process of its own). Temperatures stay below any limit."""

    async def main() -> None:
        from kafka_edge.aio_clients import aio_producer

        producer = aio_producer(
            KafkaConnection.plain(bootstrap), replace(AIOKAFKA_DEFAULTS, linger_ms=10)
        )
        await producer.start()
        try:
            ids = machine_ids(tag + "l", machines)
            t0 = time.monotonic()
            sent = 0
            while (elapsed := time.monotonic() - t0) < duration_s:
                due = int(elapsed * readings_s)
                while sent < due:
                    m = ids[sent % machines]
                    now = int(time.time() * 1000)
                    await producer.send(
                        topic, orjson.dumps(reading_json(m, now, sent)), key=m.encode()
                    )
                    sent += 1
                await asyncio.sleep(0.01)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(main())
