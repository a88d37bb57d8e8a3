"""A poller that loses its device: one ``comm_loss`` reading of the last good values, then
reconnects with exponential backoff and jitter, and reads good values again once the
device is back. Real pymodbus simulator, real TCP."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from modbustools import lathe_device, until

from connectors.config.devices import Device
from connectors.modbus.poller import DevicePoller
from connectors.simulator.server import SimulatorServer
from contracts.readings import Reading
from infra.ports import free_port

pytestmark = pytest.mark.integration

INITIAL_S, MAX_S, SEED = 0.1, 0.8, 3
# Each failed attempt first waits out the request timeout (the device hangs up unanswered).
TIMEOUT_S = 0.2


def _device(port: int) -> Device:
    return lathe_device(port, timeout_s=TIMEOUT_S)


@contextmanager
def _hanging_up(port: int) -> Iterator[list[float]]:
    """A TCP listener that accepts each connection and closes it at once; the times of
    the connections it saw, in order."""
    seen: list[float] = []
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.1)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            seen.append(time.monotonic())
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()
        listener.close()


async def test_reconnects_back_off_doubling_to_the_cap_with_jitter() -> None:
    port = free_port()
    poller = DevicePoller(
        _device(port),
        sink=lambda r: None,
        backoff_initial_s=INITIAL_S,
        backoff_max_s=MAX_S,
        rng=random.Random(SEED),
    )
    stop = asyncio.Event()
    with _hanging_up(port) as attempts:
        task = asyncio.create_task(poller.run(stop))
        await until(lambda: len(attempts) >= 7, timeout_s=30)
        stop.set()
        await task
    # The poller draws one delay per failure, uniform in [backoff / 2, backoff].
    rng, backoff, expected = random.Random(SEED), INITIAL_S, []
    for _ in range(6):
        expected.append(rng.uniform(backoff / 2, backoff))
        backoff = min(backoff * 2, MAX_S)
    waits = [b - a - TIMEOUT_S for a, b in itertools.pairwise(attempts)][:6]
    assert len(waits) == 6
    # The listener thread stamps each connection when it gets the GIL: on a loaded machine
    # a stamp can come up to about 0.1 s late, which shortens one wait and lengthens the next.
    for wait, delay in zip(waits, expected, strict=True):
        assert delay - 0.1 <= wait <= delay + 0.4, (waits, expected)
    assert waits[-1] > 3 * waits[0], "the delay grows"
    assert max(waits) <= MAX_S + 0.4, "the delay stops growing at backoff_max_s"
    doubling = [0.1, 0.2, 0.4, 0.8, 0.8, 0.8]
    assert any(abs(e - d) > 0.01 for e, d in zip(expected, doubling, strict=True)), "jitter"
    assert poller.stats.transport_errors >= 6


async def test_a_lost_device_gives_one_comm_loss_reading_of_its_last_good_values() -> None:
    port = free_port()
    device = _device(port)
    readings: list[Reading] = []
    poller = DevicePoller(device, sink=readings.append, backoff_initial_s=0.1, backoff_max_s=0.2)
    stop = asyncio.Event()
    server = SimulatorServer([device], tick_s=0.1, seed=4)
    await server.start()
    task = asyncio.create_task(poller.run(stop))
    try:
        await until(lambda: len(readings) >= 3, timeout_s=10)
        await server.shutdown()
        await until(lambda: any("comm_loss" in r.quality.values() for r in readings), timeout_s=10)
        await until(lambda: poller.stats.transport_errors >= 4, timeout_s=10)
        lost = [r for r in readings if "comm_loss" in r.quality.values()]
        server = SimulatorServer([device], tick_s=0.1, seed=4)
        await server.start()
        after = len(readings)
        await until(lambda: len(readings) > after + 2, timeout_s=10)
    finally:
        stop.set()
        await task
        await server.shutdown()
    [loss] = lost
    good_before = [r for r in readings if r.seq < loss.seq]
    assert loss.quality == {"temperature_c": "comm_loss", "spindle_rpm": "comm_loss"}
    assert loss.values == {
        name: next(r.values[name] for r in reversed(good_before) if name in r.values)
        for name in ("temperature_c", "spindle_rpm")
    }
    assert loss.seq == good_before[-1].seq + 1
    resumed = readings[after:]
    assert all(set(r.quality.values()) == {"good"} for r in resumed)
    assert [r.seq for r in readings] == sorted(r.seq for r in readings)
