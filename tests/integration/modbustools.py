"""A simulated Modbus server and pollers for the connector integration tests.

Imported as ``from modbustools import serving``: pytest puts this directory on ``sys.path``
for the tests in it (the directory is not a package), as for ``apiserver``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from connectors.config.devices import Device, parse_devices
from connectors.modbus.poller import DevicePoller
from connectors.simulator.server import SimulatorServer

REPO = Path(__file__).resolve().parents[2]


def process_env(**extra: str) -> dict[str, str]:
    """This environment without any ``MILLSTREAM_*`` setting, unbuffered, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def example_devices(tmp_path: Path, port: int) -> Path:
    """``devices.example.yaml`` on ``port``, polled every 0.2 s."""
    devices_file = tmp_path / "devices.yaml"
    devices_file.write_text(
        (REPO / "devices.example.yaml")
        .read_text(encoding="utf-8")
        .replace("port: 5020", f"port: {port}")
        .replace("poll_interval_s: 1.0", "poll_interval_s: 0.2"),
        encoding="utf-8",
    )
    return devices_file


def machine_42(port: int, registers: Sequence[str], **options: object) -> Device:
    """Machine 42 on ``port`` with ``registers`` (YAML flow mappings) and ``options``."""
    lines = ["devices:", "  - machine_id: 42", "    host: 127.0.0.1", f"    port: {port}"]
    lines += [f"    {option}: {value}" for option, value in options.items()]
    lines += ["    registers:", *(f"      - {register}" for register in registers)]
    (device,) = parse_devices("\n".join(lines) + "\n", source="test.yaml")
    return device


def lathe_device(port: int, *, timeout_s: float) -> Device:
    """Machine 42 on ``port``: a float32 temperature and a uint16 spindle speed, polled
    every 0.1 s, ``timeout_s`` for a connection or an answer, no pymodbus retries."""
    return machine_42(
        port,
        [
            "{name: temperature_c, address: 0, type: float32}",
            "{name: spindle_rpm, address: 2, type: uint16}",
        ],
        timeout_s=timeout_s,
        retries=0,
        poll_interval_s=0.1,
    )


async def start_python(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """``python *args`` in the repository, its stderr piped (see :func:`line_with`)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=REPO, env=env, stderr=asyncio.subprocess.PIPE
    )


async def line_with(proc: asyncio.subprocess.Process, text: str, *, timeout_s: float) -> str:
    """The first line of ``proc``'s stderr containing ``text``."""
    assert proc.stderr is not None
    async with asyncio.timeout(timeout_s):
        while True:
            line = (await proc.stderr.readline()).decode()
            if not line:
                raise AssertionError(f"process ended before logging {text!r}")
            if text in line:
                return line


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
