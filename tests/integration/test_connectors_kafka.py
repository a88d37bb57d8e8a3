"""The connector end to end into a real Kafka: simulator -> poller -> producer -> topics."""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.app import run_connector
from connectors.config.devices import load_devices
from connectors.config.settings import ConnectorSettings
from connectors.forwarding.producer import ReadingPublisher, build_kafka_producer
from connectors.simulator.server import SimulatorServer
from contracts.machines import decode_machine
from contracts.readings import Reading, decode_reading
from contracts.settings import CommonSettings
from infra.ports import free_port
from kafka_edge.connection import KafkaConnection, ProducerSettings
from kafka_edge.records import Record
from kafka_edge.sync_clients import kafka_observer, kafka_producer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _connector_settings(
    common: CommonSettings, devices_file: Path, spool_dir: Path
) -> ConnectorSettings:
    return ConnectorSettings(
        **common.model_dump(),
        connector_devices_file=devices_file,
        connector_spool_dir=spool_dir,
        connector_id="test-connector",
        connector_linger_ms=5,
        connector_flush_timeout_s=10.0,
    )


def _consume(bootstrap: str, topic: str, *, want: int, timeout_s: float = 15.0) -> list[Any]:
    """Records of ``topic`` from the beginning, until ``want`` arrived or time is up."""
    consumer = kafka_observer(KafkaConnection.plain(bootstrap), topic)
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < want and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


async def test_readings_and_machines_reach_kafka(
    common_settings: CommonSettings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    (example,) = load_devices(REPO / "devices.example.yaml")
    device = example.model_copy(update={"port": port, "poll_interval_s": 0.2})
    settings = _connector_settings(common_settings, REPO / "devices.example.yaml", tmp_path)
    server = SimulatorServer([device], tick_s=0.1, seed=5)
    await server.start()
    stop = asyncio.Event()
    task = asyncio.create_task(run_connector(settings, [device], stop=stop))
    try:
        readings = await asyncio.to_thread(
            _consume, kafka_bootstrap, settings.topics.readings, want=4
        )
    finally:
        stop.set()
        pollers = await task
        await server.shutdown()

    assert len(readings) >= 4
    assert {r.key for r in readings} == {b"42"}
    decoded = [decode_reading(r.value) for r in readings]
    seqs = [d.seq for d in decoded]
    assert seqs == sorted(seqs)
    assert seqs[0] == 1
    first = decoded[0]
    assert first.source == f"modbus://127.0.0.1:{port}/1"
    assert (first.plant, first.line) == ("Hall B", "Line 3")
    assert set(first.values) == {r.name for r in device.registers}
    assert set(first.quality.values()) == {"good"}
    (poller,) = pollers
    assert poller.stats.readings >= len(readings)

    machines = await asyncio.to_thread(_consume, kafka_bootstrap, settings.topics.machines, want=1)
    (record,) = machines
    assert record.key == b"42"
    info = decode_machine(record.value)
    assert info == device.machine_info()
    assert info.name == "CNC Lathe - Haas ST-20"


def _huge_reading() -> Reading:
    """About 3 MB of JSON: more than the broker's default message.max.bytes (1 MB)."""
    return Reading(
        machine_id="big",
        ts_ms=1_766_241_000_000,
        values={f"s{i}_c": i + 0.123456789 for i in range(120_000)},
    )


def _enqueue(publisher: ReadingPublisher, topic: str, reading: Reading) -> None:
    publisher.enqueue(topic, [Record(reading.key(), reading.encode())])


SMALL = Reading(machine_id="7", ts_ms=1_766_241_000_000, values={"temperature_c": 70.0})


async def test_oversized_reading_is_refused_at_send_and_counted(
    common_settings: CommonSettings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = _connector_settings(common_settings, REPO / "devices.example.yaml", tmp_path)
    publisher = ReadingPublisher(
        producer_factory=functools.partial(build_kafka_producer, settings),
        topics=settings.topics,
    )
    await publisher.start()
    try:
        _enqueue(publisher, settings.topics.readings, _huge_reading())
        assert (publisher.stats.sent, publisher.stats.failed) == (0, 1)
        _enqueue(publisher, settings.topics.readings, SMALL)
        await publisher.flush(timeout_s=15.0)
    finally:
        await publisher.close(timeout_s=5.0)
    assert (publisher.stats.sent, publisher.stats.delivered) == (1, 1)
    assert not publisher.broken
    (record,) = await asyncio.to_thread(_consume, kafka_bootstrap, settings.topics.readings, want=1)
    assert record.key == b"7"
    assert decode_reading(record.value) == SMALL


async def test_broker_rejection_is_counted_and_the_producer_replaced(
    common_settings: CommonSettings, kafka_bootstrap: str
) -> None:
    topics = common_settings.topics
    publisher = ReadingPublisher(
        # Uncompressed, so that the broker (not the client) sees a record over its limit.
        producer_factory=lambda: kafka_producer(
            KafkaConnection.plain(kafka_bootstrap),
            ProducerSettings(compression="none"),
            max_request_size=16_000_000,
        ),
        topics=topics,
    )
    await publisher.start()
    try:
        _enqueue(publisher, topics.readings, _huge_reading())
        await publisher.flush(timeout_s=15.0)
        assert (publisher.stats.sent, publisher.stats.failed) == (1, 1)
        assert publisher.broken
        await publisher.recover()
        assert not publisher.broken
        _enqueue(publisher, topics.readings, SMALL)
        await publisher.flush(timeout_s=15.0)
    finally:
        await publisher.close(timeout_s=5.0)
    assert (publisher.stats.sent, publisher.stats.delivered, publisher.stats.failed) == (2, 1, 1)
    (record,) = await asyncio.to_thread(_consume, kafka_bootstrap, topics.readings, want=1)
    assert record.key == b"7"
    assert decode_reading(record.value) == SMALL
