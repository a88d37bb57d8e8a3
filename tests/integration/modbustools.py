"""A simulated Modbus server and pollers for the connector integration tests.

Imported as ``from modbustools import serving``: pytest puts this directory on ``sys.path``
for the tests in it (the directory is not a package), as for ``apiserver``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from connectors.config.devices import Device
from connectors.modbus.poller import DevicePoller
from connectors.simulator.server import SimulatorServer


async def until(predicate: Callable[[], bool], *, timeout_s: float) -> None:
    """Wait until ``predicate()`` holds, checking every 20 ms; TimeoutError after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serving(
    devices: list[Device], *, tick_s: float = 0.1, **options: Any
) -> AsyncIterator[SimulatorServer]:
    """A real pymodbus simulator serving ``devices`` until the block ends."""
    server = SimulatorServer(devices, tick_s=tick_s, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.shutdown()


@contextlib.asynccontextmanager
async def polled(server: SimulatorServer, *pollers: DevicePoller) -> AsyncIterator[None]:
    """``server`` serving and every poller polling it, until the block ends."""
    await server.start()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(p.run(stop)) for p in pollers]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await server.shutdown()
