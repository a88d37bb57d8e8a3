"""The poller over Modbus RTU: on a serial line (a bridged pty pair, no hardware) and
through a TCP gateway (RTU frames over TCP), each against a real pymodbus server."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from ptypair import PtyPair
from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from connectors.commands import execute, plan_write
from connectors.devices import Device, check_serial_ports, parse_devices
from connectors.poller import DevicePoller
from contracts.commands import Command
from contracts.errors import ConfigError
from contracts.readings import Reading
from contracts.timefmt import now_ms
from infra.ports import free_port

pytestmark = pytest.mark.integration

TEMPERATURE_C = 71.5
_HOLDING = [*struct.unpack(">HH", struct.pack(">f", TEMPERATURE_C)), 0b1000, 0, 0, 1200]

REGISTERS = """    poll_interval_s: 0.1
    timeout_s: 0.5
    registers:
      - {name: temperature_c, address: 0, type: float32}
      - {name: running, address: 2, type: bit, bit: 3}
      - {name: spindle_rpm_setpoint, address: 5, type: uint16, writable: true, min: 0, max: 5000}
      - {name: pressure_bar, address: 100, type: uint16}
"""


def _device(address_yaml: str) -> Device:
    (device,) = parse_devices(
        f"devices:\n  - machine_id: 42\n    device_id: 1\n{address_yaml}{REGISTERS}",
        source="test.yaml",
    )
    return device


class Refusal:
    """While :attr:`on`, the device answers reads of register 100 with exception 2."""

    def __init__(self) -> None:
        self.on = False
        self.refused = 0

    async def act(
        self,
        function_code: int,
        _start_address: int,
        address: int,
        _count: int,
        _registers: list[int],
        _values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.on and function_code == 3 and address == 100:
            self.refused += 1
            return ExcCodes.ILLEGAL_ADDRESS
        return None


def _sim_device(refusal: Refusal) -> SimDevice:
    """Holding registers 0-5 and 100 of unit 1."""
    holding = [
        SimData(address=0, values=list(_HOLDING), datatype=DataType.REGISTERS),
        SimData(address=100, values=[7], datatype=DataType.REGISTERS),
    ]
    bits = [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    blank = [SimData(address=0, count=1, datatype=DataType.INVALID)]
    return SimDevice(1, simdata=(bits, bits, holding, blank), action=refusal.act)


async def _until(predicate: Callable[[], bool], *, timeout_s: float = 8.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.fixture
def pty_pair() -> Any:
    with PtyPair() as pair:
        yield pair


@pytest.fixture
def refusal() -> Refusal:
    return Refusal()


@pytest.fixture
async def serial_server(pty_pair: PtyPair, refusal: Refusal) -> AsyncIterator[ModbusSerialServer]:
    server = ModbusSerialServer(
        [_sim_device(refusal)], framer=FramerType.RTU, port=pty_pair.a_path, baudrate=19200
    )
    await server.serve_forever(background=True)
    try:
        yield server
    finally:
        await server.shutdown()


async def _poll_and_write(device: Device, server: Any, refusal: Refusal) -> list[Reading]:
    """Poll until three readings came, make the device refuse register 100 until a
    reading shows it, write a setpoint on the poller's connection, and return the
    readings."""
    readings: list[Reading] = []
    poller = DevicePoller(device, sink=readings.append, backoff_initial_s=0.1, backoff_max_s=0.4)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await _until(lambda: len(readings) >= 3)
        refusal.on = True
        await _until(lambda: readings[-1].quality.get("pressure_bar") == "bad")
        command = Command(
            command_id="c1",
            machine_id="42",
            action="setpoint",
            target="spindle_rpm_setpoint",
            value=2400,
            requested_by="test",
            ts_ms=now_ms(),
        )
        write = plan_write(command, device, now_ms=now_ms(), max_age_s=30)
        assert not isinstance(write, str), write
        assert write.function_code == 6
        assert await execute(poller, write) is None
        assert await server.async_getValues(1, 3, 5, 1) == [2400]
        count = len(readings)
        await _until(lambda: len(readings) > count + 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert poller.stats.transport_errors == 0
    return readings


def _check_readings(readings: list[Reading], device: Device) -> None:
    first = readings[0]
    assert first.seq == 1
    assert first.source == device.source
    assert first.values["temperature_c"] == pytest.approx(TEMPERATURE_C)
    assert first.values["running"] == 1
    assert first.values["spindle_rpm_setpoint"] == 1200
    assert first.quality["temperature_c"] == "good"
    assert first.quality["running"] == "good"
    assert first.values["pressure_bar"] == 7
    assert first.quality["pressure_bar"] == "good"
    # The device refused the read of register 100 (exception 2): that tag alone is bad,
    # with its last good value; the other tags of the scan stay good.
    refused = next(r for r in readings if r.quality["pressure_bar"] == "bad")
    assert refused.values["pressure_bar"] == 7
    assert refused.values["temperature_c"] == pytest.approx(TEMPERATURE_C)
    assert {k: q for k, q in refused.quality.items() if k != "pressure_bar"} == {
        "temperature_c": "good",
        "running": "good",
        "spindle_rpm_setpoint": "good",
    }
    # The write reached the device, and the next scans read it back.
    assert readings[-1].values["spindle_rpm_setpoint"] == 2400
    assert [r.seq for r in readings] == list(range(1, len(readings) + 1))


async def test_rtu_over_a_serial_line(
    pty_pair: PtyPair, serial_server: ModbusSerialServer, refusal: Refusal
) -> None:
    device = _device(
        f"    protocol: rtu\n    serial_port: {pty_pair.b_path}\n    baudrate: 19200\n"
    )
    check_serial_ports([device])
    readings = await _poll_and_write(device, serial_server, refusal)
    assert refusal.refused > 0
    _check_readings(readings, device)
    assert device.source == f"modbus-rtu://{pty_pair.b_path}/1"
    assert pty_pair.relayed_bytes > 0


async def test_rtu_over_tcp_gateway() -> None:
    port = free_port()
    refusal = Refusal()
    server = ModbusTcpServer(
        [_sim_device(refusal)], framer=FramerType.RTU, address=("127.0.0.1", port)
    )
    await server.serve_forever(background=True)
    try:
        device = _device(f"    protocol: rtu_over_tcp\n    host: 127.0.0.1\n    port: {port}\n")
        readings = await _poll_and_write(device, server, refusal)
    finally:
        await server.shutdown()
    _check_readings(readings, device)
    assert device.source == f"modbus-rtu-tcp://127.0.0.1:{port}/1"


def test_an_unopenable_serial_port_is_a_start_up_error_naming_the_field() -> None:
    device = _device("    protocol: rtu\n    serial_port: /dev/does-not-exist-ttyRTU\n")
    with pytest.raises(ConfigError) as caught:
        check_serial_ports([device])
    message = str(caught.value)
    assert message.startswith("device 42: serial_port: cannot open /dev/does-not-exist-ttyRTU")
