"""Coils and discrete inputs: the simulator serves them, the connector polls and decodes
them (function codes 1 and 2), and writes multiple coils (function code 15)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from connectors.commands import Write, execute
from connectors.config.devices import Device, load_devices, parse_devices
from connectors.modbus.poller import DevicePoller
from connectors.simulator.faults import parse_episode
from connectors.simulator.server import SimulatorServer
from contracts.readings import Reading
from infra.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def _until(predicate: Callable[[], bool], *, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)


def _bits_device(port: int) -> Device:
    (device,) = parse_devices(
        f"""
devices:
  - machine_id: 42
    host: 127.0.0.1
    port: {port}
    device_id: 1
    poll_interval_s: 0.1
    registers:
      - {{name: temperature_c, address: 0, type: float32}}
      - {{name: coolant_pump_on, table: coil, address: 18, type: bit, writable: true}}
      - {{name: running, table: coil, address: 19, type: bit}}
      - {{name: chip_conveyor_on, table: coil, address: 21, type: bit, writable: true}}
      - {{name: door_open, table: discrete, address: 3, type: bit}}
      - {{name: guard_closed, table: discrete, address: 17, type: bit}}
""",
        source="test.yaml",
    )
    return device


async def test_coils_and_discrete_inputs_are_polled_and_decoded() -> None:
    port = free_port()
    device = _bits_device(port)
    server = SimulatorServer([device], seed=8)
    await server.start()  # one set of values, no ticks: they stay as they are
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    poller = DevicePoller(device, sink=lambda _: None)
    try:
        assert await client.connect()
        coils = await client.read_coils(18, count=4, device_id=1)
        inputs = await client.read_discrete_inputs(3, count=15, device_id=1)
        reading = await poller.scan_once()
    finally:
        poller.close()
        client.close()
        await server.shutdown()
    assert not coils.isError() and not inputs.isError()
    assert reading is not None
    tables = [(r.table, r.address, r.count) for r in poller.requests]
    assert tables[1:] == [("coil", 18, 2), ("coil", 21, 1), ("discrete", 3, 1), ("discrete", 17, 1)]
    state = server.model("42").state
    assert reading.values["running"] == 1.0 == float(state.running)
    assert reading.values["door_open"] == float(state.door_open)
    assert reading.values["coolant_pump_on"] == float(coils.bits[0])
    assert reading.values["chip_conveyor_on"] == float(coils.bits[3])
    assert reading.values["guard_closed"] == float(inputs.bits[14])
    assert set(reading.quality.values()) == {"good"}
    assert {reading.values[n] for n in ("running", "door_open", "guard_closed")} <= {0.0, 1.0}


async def test_running_coil_and_door_follow_stop_and_start() -> None:
    port = free_port()
    (example,) = load_devices(REPO / "devices.example.yaml")
    device = example.model_copy(update={"port": port, "poll_interval_s": 0.1})
    readings: list[Reading] = []
    server = SimulatorServer([device], tick_s=0.1, seed=9)
    poller = DevicePoller(device, sink=readings.append)
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    stop = asyncio.Event()
    await server.start()
    tasks = [asyncio.create_task(server.run(stop)), asyncio.create_task(poller.run(stop))]
    assert device.commands.stop is not None and device.commands.start is not None

    def last(name: str) -> float | None:
        return next((r.values[name] for r in reversed(readings) if name in r.values), None)

    try:
        await _until(lambda: last("running") == 1.0)
        assert await client.connect()
        await client.write_register(
            device.commands.stop.address, device.commands.stop.value, device_id=1
        )
        await _until(
            lambda: last("running") == 0.0 and last("spindle_rpm") == 0 and last("door_open") == 1.0
        )
        await client.write_register(
            device.commands.start.address, device.commands.start.value, device_id=1
        )
        await _until(lambda: last("running") == 1.0)
    finally:
        stop.set()
        client.close()
        await asyncio.gather(*tasks)
    assert all(r.quality.get("running", "good") == "good" for r in readings)
    assert all(r.quality.get("door_open", "good") == "good" for r in readings)


async def test_write_multiple_coils_fc15_lands_and_writable_coils_keep_it() -> None:
    port = free_port()
    device = _bits_device(port)
    episode = parse_episode("42:coil:21:slave_device_busy:0.4:0.6")
    server = SimulatorServer([device], tick_s=0.05, seed=10, exception_episodes=[episode])
    readings: list[Reading] = []
    poller = DevicePoller(device, sink=readings.append)
    stop = asyncio.Event()
    await server.start()
    ticking = asyncio.create_task(server.run(stop))
    write = Write("coil", 18, (1, 0, 1, 1))
    assert write.function_code == 15
    try:
        before = await poller.scan_once()
        await asyncio.sleep(0.5)
        # Coil 21 answers "busy" from 0.4 s to 1.0 s: the write is refused with its code.
        refused = await execute(poller, write)
        assert refused == "device refused the write (exception_code=6)"
        await asyncio.sleep(0.6)
        assert await execute(poller, write) is None
        await asyncio.sleep(0.2)  # a few ticks: non-writable coils are the model's again
        reading = await poller.scan_once()
        client = await poller.connected_client()
        spare = await client.read_coils(20, count=1, device_id=1)
    finally:
        stop.set()
        poller.close()
        await ticking
    assert reading is not None
    assert before is not None
    assert (before.values["coolant_pump_on"], before.values["chip_conveyor_on"]) == (0.0, 0.0)
    # Writable coils keep what was written; coil 20 (no tag) too.
    assert reading.values["coolant_pump_on"] == 1.0
    assert reading.values["chip_conveyor_on"] == 1.0
    assert spare.bits[0] is True
    assert reading.values["running"] == 1.0  # the model's status overwrote the 0
    assert set(reading.quality.values()) == {"good"}
