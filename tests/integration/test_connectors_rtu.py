"""Modbus RTU, on a serial line (a pty pair) and through a TCP gateway (RTU frames over
TCP): the connector's poller against the simulator's real pymodbus servers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from ptypair import PtyPair

from connectors.commands import Write, execute
from connectors.config.devices import Device, load_devices
from connectors.modbus.poller import DevicePoller
from connectors.simulator.server import SimulatorServer
from contracts.readings import Reading
from infra.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _lathe(**update: object) -> Device:
    (device,) = load_devices(REPO / "devices.example.yaml")
    return device.model_copy(update={"poll_interval_s": 0.1, **update})


async def _until(predicate: Callable[[], bool], *, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)


async def _poll_and_stop(
    device: Device, server: SimulatorServer
) -> tuple[DevicePoller, list[Reading]]:
    """Poll until the spindle turns, stop the machine with a write (function code 6):
    the simulator stops it, and the spindle reads (almost) 0."""
    readings: list[Reading] = []
    poller = DevicePoller(device, sink=readings.append, backoff_initial_s=0.1, backoff_max_s=0.4)
    stop = asyncio.Event()
    await server.start()
    simulating = asyncio.create_task(server.run(stop))
    task = asyncio.create_task(poller.run(stop))
    try:
        await _until(lambda: len(readings) >= 3 and readings[-1].values["spindle_rpm"] > 100)
        stop_command = device.commands.stop
        assert stop_command is not None
        failure = await execute(
            poller, Write(stop_command.table, stop_command.address, (stop_command.value,))
        )
        assert failure is None
        await _until(lambda: not server.model(device.machine_id).running)
        await _until(lambda: readings[-1].values["spindle_rpm"] < 1.0)
    finally:
        stop.set()
        await task
        await simulating
    return poller, readings


def _check_lathe(device: Device, readings: list[Reading], source: str) -> None:
    first = readings[0]
    assert first.source == source
    assert set(first.values) == {r.name for r in device.registers}
    assert set(first.quality.values()) == {"good"}
    assert 60.0 < first.values["temperature_c"] < 80.0
    assert 3.5 < first.values["oil_pressure_bar"] < 5.5
    assert max(r.values["spindle_rpm"] for r in readings) > 100


async def test_serial_rtu_on_a_pty_pair() -> None:
    with PtyPair() as line:
        # (a pty refuses parity E when pyserial reconfigures it: the default N here)
        device = _lathe(protocol="rtu", serial_port=line.a, baudrate=115200)
        server = SimulatorServer([device], tick_s=0.1, seed=5, serial_ports={line.a: line.b})
        poller, readings = await _poll_and_stop(device, server)
    _check_lathe(device, readings, f"modbus-rtu://{line.a}/1")
    assert poller.stats.transport_errors == 0
    assert poller.stats.refused_requests == 0


async def test_rtu_frames_over_tcp() -> None:
    port = free_port()
    device = _lathe(protocol="rtu_over_tcp", port=port)
    server = SimulatorServer([device], tick_s=0.1, seed=6)
    poller, readings = await _poll_and_stop(device, server)
    _check_lathe(device, readings, f"modbus-rtu-tcp://127.0.0.1:{port}/1")
    assert poller.stats.transport_errors == 0


async def test_serial_rtu_refused_register_is_counted_and_the_rest_stays_good() -> None:
    with PtyPair() as line:
        served = _lathe(protocol="rtu", serial_port=line.a)
        ghost = served.registers[0].model_copy(update={"name": "ghost_c", "address": 40})
        device = served.model_copy(update={"registers": (*served.registers, ghost)})
        server = SimulatorServer([served], tick_s=0.1, seed=7, serial_ports={line.a: line.b})
        readings: list[Reading] = []
        poller = DevicePoller(device, sink=readings.append, backoff_initial_s=0.1)
        stop = asyncio.Event()
        await server.start()
        task = asyncio.create_task(poller.run(stop))
        try:
            await _until(lambda: poller.stats.refused_requests >= 3 and len(readings) >= 3)
        finally:
            stop.set()
            await task
            await server.shutdown()
    # An exception response is not a transport failure: no reconnect, the refused tag
    # (never read, so with no last value) is left out, the others stay good.
    assert poller.stats.transport_errors == 0
    assert poller.stats.connects == 1
    last = readings[-1]
    assert "ghost_c" not in last.values
    assert set(last.quality.values()) == {"good"}
    assert set(last.values) == {r.name for r in served.registers}
