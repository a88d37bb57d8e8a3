"""Modbus RTU, on a serial line (a pty pair) and through a TCP gateway (RTU frames over
TCP): the connector's poller against the simulator's real pymodbus servers."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from ptypair import PtyPair
from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from connectors.commands import Write, execute, plan_write
from connectors.config.devices import Device, load_devices, parse_devices
from connectors.modbus.poller import DevicePoller
from connectors.modbus.serial_ports import check_serial_ports
from connectors.simulator.server import SimulatorServer
from contracts.commands import Command
from contracts.errors import ConfigError
from contracts.readings import Reading
from contracts.timefmt import now_ms
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


# A plain pymodbus RTU serial server (not the simulator) whose registers the test sets:
# float32 71.5 in 0-1, bit 3 of 2 set, a setpoint in 5, and 100 refused on demand.
TEMPERATURE_C = 71.5
_HOLDING = [*struct.unpack(">HH", struct.pack(">f", TEMPERATURE_C)), 0b1000, 0, 0, 1200]
_REGISTERS = """    poll_interval_s: 0.1
    timeout_s: 0.5
    registers:
      - {name: temperature_c, address: 0, type: float32}
      - {name: running, address: 2, type: bit, bit: 3}
      - {name: spindle_rpm_setpoint, address: 5, type: uint16, writable: true, min: 0, max: 5000}
      - {name: pressure_bar, address: 100, type: uint16}
"""


class _Refusal:
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


def _sim_device(refusal: _Refusal) -> SimDevice:
    holding = [
        SimData(address=0, values=list(_HOLDING), datatype=DataType.REGISTERS),
        SimData(address=100, values=[7], datatype=DataType.REGISTERS),
    ]
    bits = [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    blank = [SimData(address=0, count=1, datatype=DataType.INVALID)]
    return SimDevice(1, simdata=(bits, bits, holding, blank), action=refusal.act)


def _serial_device(serial_port: str) -> Device:
    (device,) = parse_devices(
        "devices:\n  - machine_id: 42\n    device_id: 1\n    protocol: rtu\n"
        f"    serial_port: {serial_port}\n    baudrate: 19200\n    bytesize: 8\n{_REGISTERS}",
        source="test.yaml",
    )
    return device


async def test_serial_rtu_decodes_marks_a_refused_tag_bad_and_writes_a_setpoint() -> None:
    refusal = _Refusal()
    with PtyPair() as line:
        server = ModbusSerialServer(
            [_sim_device(refusal)], framer=FramerType.RTU, port=line.b, baudrate=19200
        )
        await server.serve_forever(background=True)
        device = _serial_device(line.a)
        check_serial_ports([device])  # the start-up check passes on an openable port
        readings: list[Reading] = []
        poller = DevicePoller(device, sink=readings.append, backoff_initial_s=0.1)
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
            assert isinstance(write, Write) and write.function_code == 6
            assert await execute(poller, write) is None
            assert await server.async_getValues(1, 3, 5, 1) == [2400]
            await _until(lambda: readings[-1].values["spindle_rpm_setpoint"] == 2400)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)
            await server.shutdown()
    first = readings[0]
    assert first.values == {
        "temperature_c": pytest.approx(TEMPERATURE_C),
        "running": 1,
        "spindle_rpm_setpoint": 1200,
        "pressure_bar": 7,
    }
    assert set(first.quality.values()) == {"good"}
    # The refused tag is bad and keeps its last good value; the rest of the scan is good.
    refused = next(r for r in readings if r.quality["pressure_bar"] == "bad")
    assert refused.values["pressure_bar"] == 7
    assert refused.values["temperature_c"] == pytest.approx(TEMPERATURE_C)
    assert {k for k, q in refused.quality.items() if q != "good"} == {"pressure_bar"}
    assert refusal.refused > 0
    assert poller.stats.transport_errors == 0
    assert [r.seq for r in readings] == list(range(1, len(readings) + 1))


def test_an_unopenable_serial_port_is_a_start_up_error_naming_the_field() -> None:
    device = _serial_device("/dev/does-not-exist-ttyRTU")
    with pytest.raises(ConfigError) as caught:
        check_serial_ports([device])
    assert str(caught.value).startswith(
        "device 42: serial_port: cannot open /dev/does-not-exist-ttyRTU"
    )
