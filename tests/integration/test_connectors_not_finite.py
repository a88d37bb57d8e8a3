"""Values that are not finite after scale and offset, read from a plain pymodbus server
(not our simulator: registers a foreign device could hold).

An ``int32`` holding 2**31 - 1 with ``scale: 1e300`` is infinite once scaled. It must be
published with quality ``bad`` (carrying its last good value), counted, and exported as
``millstream_connector_errors_total{kind="not_finite"}``; never as a ``good`` infinity.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

import pytest
from modbustools import machine_42, until
from prometheus_client import generate_latest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from connectors.metrics import ConnectorMetrics
from connectors.modbus.decoding import encode
from connectors.modbus.poller import DevicePoller
from contracts.readings import Reading
from infra.ports import free_port

pytestmark = pytest.mark.integration

_BIG = encode(2**31 - 1, data_type="int32")  # times 1e300: past a double's range
_SMALL = encode(2, data_type="int32")  # times 1e300: 2e300, finite


@contextlib.asynccontextmanager
async def _plain_server(port: int, holding: list[int]) -> AsyncIterator[None]:
    """A pymodbus server with one unit (id 1) whose holding registers start as ``holding``."""
    bits = [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    device = SimDevice(
        1,
        simdata=(
            bits,
            bits,
            [SimData(address=0, values=holding, datatype=DataType.REGISTERS)],
            [SimData(address=0, count=1, datatype=DataType.INVALID)],
        ),
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    try:
        yield
    finally:
        await server.shutdown()


async def _write(port: int, address: int, registers: list[int]) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    try:
        response = await client.write_registers(address, registers, device_id=1)
        assert not response.isError()
    finally:
        client.close()


async def test_a_scaled_integer_past_the_float_range_is_bad_and_counted() -> None:
    port = free_port()
    device = machine_42(
        port,
        [
            "{name: counter_total, address: 0, type: int32, scale: 1.0e+300}",
            "{name: overflow_from_start, address: 2, type: int32, scale: -1.0e+300, offset: 5}",
            "{name: temperature_c, address: 4, type: int16, scale: 0.1}",
        ],
        device_id=1,
        poll_interval_s=0.05,
    )
    readings: list[Reading] = []
    poller = DevicePoller(device, sink=readings.append)
    metrics = ConnectorMetrics()
    metrics.watch([poller], dict)
    stop = asyncio.Event()
    async with _plain_server(port, [*_SMALL, *_BIG, 215]):
        task = asyncio.create_task(poller.run(stop))
        try:
            await until(lambda: len(readings) >= 3, timeout_s=8.0)
            await _write(port, 0, _BIG)
            await until(lambda: readings[-1].quality.get("counter_total") == "bad", timeout_s=8.0)
            await _write(port, 0, _SMALL)
            await until(lambda: readings[-1].quality.get("counter_total") == "good", timeout_s=8.0)
        finally:
            stop.set()
            await task
    # No value published is ever infinite or NaN.
    assert all(math.isfinite(v) for r in readings for v in r.values.values())
    bad = [r for r in readings if r.quality.get("counter_total") == "bad"]
    assert bad
    # A bad value carries the last good one (2 * 1e300).
    assert {r.values["counter_total"] for r in bad} == {2e300}
    # -inf from the first scan on, never good: never published, but counted every scan.
    assert all("overflow_from_start" not in r.values for r in readings)
    assert all(r.quality["temperature_c"] == "good" for r in readings)
    assert readings[0].values["temperature_c"] == pytest.approx(21.5)
    counted = poller.stats.not_finite_values
    assert counted >= len(bad) + len(readings)
    assert poller.stats.values["bad"] == len(bad)
    page = generate_latest(metrics.registry).decode()
    line = f'millstream_connector_errors_total{{kind="not_finite",machine_id="42"}} {counted}.0'
    assert line in page
