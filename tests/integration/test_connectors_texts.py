"""Text tags end to end: a string register of a real pymodbus server (the simulator) is read
by the poller into the reading's ``texts``; on the readings topic a worker writes it to
InfluxDB as a string field, next to the numbers."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pipelinetools import poll_flux, produce, running_worker

from connectors.config.devices import parse_devices
from connectors.modbus.poller import DevicePoller
from connectors.simulator.server import SimulatorServer
from contracts.readings import Reading, decode_reading
from infra.ports import free_port

pytestmark = pytest.mark.integration


async def _read_once(port: int) -> Reading:
    (device,) = parse_devices(
        f"""
devices:
  - machine_id: text-1
    host: 127.0.0.1
    port: {port}
    registers:
      - {{name: temperature_c, address: 0, type: float32}}
      - {{name: recipe, address: 2, type: string, length: 4}}
      - {{name: batch_id, address: 6, type: string, length: 3, byte_order: BADC}}
""",
        source="texts.yaml",
    )
    server = SimulatorServer([device], tick_s=0.1, seed=8)
    await server.start()
    try:
        poller = DevicePoller(device, sink=lambda _r: None)
        reading = await poller.scan_once()
    finally:
        await server.shutdown()
    assert reading is not None
    return reading


def test_a_string_register_becomes_a_text_and_a_string_field(
    common_settings, service_env, influx, tmp_path
):
    reading = asyncio.run(_read_once(free_port()))
    assert reading.texts == {"recipe": "REC-17", "batch_id": "BAT-17"}
    assert reading.quality == {"temperature_c": "good", "recipe": "good", "batch_id": "good"}
    assert decode_reading(reading.encode()) == reading

    machine = f"text-{uuid.uuid4().hex[:8]}"
    on_topic = Reading(
        machine_id=machine,
        ts_ms=reading.ts_ms,
        values=reading.values,
        quality=reading.quality,
        texts=reading.texts,
        seq=1,
    )
    with running_worker(
        service_env, app_id=f"pl-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path
    ) as proc:
        produce(
            common_settings.kafka_bootstrap_servers,
            common_settings.topics.readings,
            [(on_topic.key(), on_topic.encode())],
        )
        rows = poll_flux(
            influx,
            influx.bucket,
            f'r._measurement == "readings" and r.machine_id == "{machine}"',
            lambda rows: len(rows) >= 3,
            proc=proc,
        )
    fields = {r["_field"]: r["_value"] for r in rows}
    assert fields["recipe"] == "REC-17" and fields["batch_id"] == "BAT-17"
    assert fields["temperature_c"] == pytest.approx(reading.values["temperature_c"])
