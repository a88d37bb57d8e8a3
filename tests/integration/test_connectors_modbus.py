"""The poller against a real pymodbus server: the simulator, in-process on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from modbustools import serving, until

from connectors.config.devices import Commands, Device, load_devices, parse_devices
from connectors.modbus.poller import DevicePoller
from connectors.simulator.server import SimulatorServer
from contracts.readings import Reading, decode_reading
from infra.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _example(port: int, **update: object) -> Device:
    (device,) = load_devices(REPO / "devices.example.yaml")
    return device.model_copy(update={"port": port, "poll_interval_s": 0.1, **update})


_until = functools.partial(until, timeout_s=5.0)


class Polling:
    """Pollers running in the background, each collecting its readings."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.readings: dict[str, list[Reading]] = {}
        self.pollers: dict[str, DevicePoller] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, device: Device) -> DevicePoller:
        collected = self.readings.setdefault(device.machine_id, [])
        poller = DevicePoller(
            device, sink=collected.append, backoff_initial_s=0.1, backoff_max_s=0.4
        )
        self.pollers[device.machine_id] = poller
        self._tasks.append(asyncio.create_task(poller.run(self.stop)))
        return poller

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self._tasks)


@pytest.fixture
async def polling() -> AsyncIterator[Polling]:
    running = Polling()
    try:
        yield running
    finally:
        await running.close()


async def test_poller_reads_the_simulated_lathe(polling: Polling) -> None:
    port = free_port()
    device = _example(port)
    async with serving([device], seed=1):
        poller = polling.start(device)
        await _until(lambda: len(polling.readings["42"]) >= 3)
    first, second, third = polling.readings["42"][:3]
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.ts_ms < second.ts_ms < third.ts_ms
    assert first.source == f"modbus://127.0.0.1:{port}/1"
    assert (first.machine_id, first.plant, first.line) == ("42", "Hall B", "Line 3")
    assert set(first.values) == {r.name for r in device.registers}
    assert set(first.quality.values()) == {"good"}
    assert 60.0 < first.values["temperature_c"] < 80.0
    assert 3.5 < first.values["oil_pressure_bar"] < 5.5
    assert first.values["spindle_rpm"] == int(first.values["spindle_rpm"])
    assert decode_reading(first.encode()) == first
    assert poller.requests[0].count == 10
    assert poller.stats.connects == 1
    assert poller.stats.transport_errors == 0


async def test_refused_register_is_counted_while_other_device_keeps_producing(
    polling: Polling,
) -> None:
    port = free_port()
    served = parse_devices(
        f"""
devices:
  - machine_id: 42
    host: 127.0.0.1
    port: {port}
    device_id: 1
    registers:
      - {{name: temperature_c, address: 0, type: float32}}
  - machine_id: 43
    host: 127.0.0.1
    port: {port}
    device_id: 2
    registers:
      - {{name: temperature_c, address: 0, type: float32}}
      - {{name: level_pct, address: 0, type: int16, table: input, scale: 0.1}}
""",
        source="served.yaml",
    )
    misconfigured = served[0].model_copy(
        update={
            "poll_interval_s": 0.1,
            "registers": (
                *served[0].registers,
                served[0].registers[0].model_copy(update={"name": "ghost_c", "address": 40}),
            ),
        }
    )
    healthy = served[1].model_copy(update={"poll_interval_s": 0.1})
    async with serving(served, seed=2):
        broken = polling.start(misconfigured)
        fine = polling.start(healthy)
        await _until(lambda: broken.stats.refused_requests >= 5 and fine.stats.readings >= 5)
    assert broken.stats.transport_errors == 0
    assert broken.stats.connects == 1
    for reading in polling.readings["42"]:
        assert reading.values.keys() == {"temperature_c"}
        assert reading.quality == {"temperature_c": "good"}
    healthy_readings = polling.readings["43"]
    good = {"temperature_c": "good", "level_pct": "good"}
    assert all(r.quality == good for r in healthy_readings)
    assert all(40.0 <= r.values["level_pct"] <= 60.0 for r in healthy_readings)
    assert fine.stats.refused_requests == 0


async def test_values_refused_after_good_ones_turn_bad_with_last_good_values(
    polling: Polling,
) -> None:
    port = free_port()
    device = _example(port)
    async with serving([device], seed=3):
        poller = polling.start(device)
        await _until(lambda: poller.stats.readings >= 2)
    last_good = polling.readings["42"][-1].values
    # The device comes back without its last register; the one request that covers
    # every holding register is now refused, so every holding value of the scan turns bad.
    without_last = device.model_copy(
        update={
            "registers": tuple(r for r in device.registers if r.name != "feed_override_pct"),
            "commands": Commands(),
        }
    )
    async with serving([without_last], seed=3):
        await _until(lambda: polling.readings["42"][-1].quality["feed_override_pct"] == "bad")
    reading = polling.readings["42"][-1]
    holding = {r.name for r in device.registers if r.table == "holding"}
    assert {n: reading.values[n] for n in holding} == {n: last_good[n] for n in holding}
    assert {reading.quality[n] for n in holding} == {"bad"}
    # The coil and the discrete input are other requests, still answered.
    assert {q for n, q in reading.quality.items() if n not in holding} == {"good"}
    assert poller.stats.refused_requests >= 1
    assert poller.stats.connects == 2


async def test_poller_reconnects_when_the_server_comes_back(polling: Polling) -> None:
    port = free_port()
    device = _example(port)
    async with serving([device], seed=4):
        poller = polling.start(device)
        await _until(lambda: poller.stats.readings >= 2)
    await _until(lambda: poller.stats.transport_errors >= 2)
    readings_while_down = poller.stats.readings
    await asyncio.sleep(0.3)
    assert poller.stats.readings == readings_while_down

    async with serving([device], seed=4):
        await _until(lambda: poller.stats.readings >= readings_while_down + 3)
    assert poller.stats.connects == 2
    seqs = [r.seq for r in polling.readings["42"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert set(polling.readings["42"][-1].quality.values()) == {"good"}


async def test_unexpected_error_in_one_poller_leaves_the_others_running(
    polling: Polling,
) -> None:
    port = free_port()
    healthy = _example(port)
    faulty = healthy.model_copy(update={"machine_id": "43"})
    server = SimulatorServer([healthy], tick_s=0.1, seed=6)
    await server.start()

    def broken_sink(reading: Reading) -> None:
        raise RuntimeError(f"sink rejected seq {reading.seq}")

    fine = polling.start(healthy)
    broken = DevicePoller(faulty, sink=broken_sink, backoff_initial_s=0.05)
    broken_task = asyncio.create_task(broken.run(polling.stop))
    try:
        await _until(lambda: broken.stats.unexpected_errors >= 2 and fine.stats.readings >= 5)
        assert not broken_task.done()
    finally:
        polling.stop.set()
        await broken_task
        await server.shutdown()
    assert fine.stats.unexpected_errors == 0
    assert broken.stats.connects >= 2


async def test_a_silent_device_does_not_delay_the_others_and_its_return_is_picked_up(
    polling: Polling,
) -> None:
    """Device B accepts connections but never answers (a hung PLC), then comes back."""
    port_a, port_b = free_port(), free_port()
    device_a = _example(port_a)
    device_b = _example(port_b, machine_id="43", timeout_s=0.5)
    server_a = SimulatorServer([device_a], tick_s=0.1, seed=8)
    await server_a.start()

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read(-1)
        writer.close()

    silent = await asyncio.start_server(swallow, "127.0.0.1", port_b)
    server_b = None
    try:
        poller_a = polling.start(device_a)
        poller_b = polling.start(device_b)
        await _until(lambda: poller_b.stats.transport_errors >= 3, timeout_s=15)
        a_times = [r.ts_ms for r in polling.readings["42"]]
        assert len(a_times) >= 10
        gaps_ms = [b - a for a, b in itertools.pairwise(a_times[-10:])]
        # A keeps its 0.1 s grid while B times out every 0.5 s.
        assert max(gaps_ms) < 250, gaps_ms
        assert polling.readings["43"] == []
        silent.close()
        await silent.wait_closed()
        server_b = SimulatorServer([device_b], tick_s=0.1, seed=9)
        await server_b.start()
        await _until(lambda: len(polling.readings["43"]) >= 3, timeout_s=40)
    finally:
        silent.close()
        await server_a.shutdown()
        if server_b is not None:
            await server_b.shutdown()
    assert poller_a.stats.transport_errors == 0
    assert [r.seq for r in polling.readings["43"][:3]] == [1, 2, 3]


async def test_a_machine_of_thirty_tags_is_read_in_one_block_and_answered_in_the_loop(
    polling: Polling, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The benchmarks' machines: the example lathe's tags plus float32 input registers in
    # one block; the simulator answers every request as a task of its own loop.
    from bench.load import devices_file

    def cross_thread(*_args: object) -> None:
        raise AssertionError("the simulator answered through run_coroutine_threadsafe")

    monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", cross_thread)
    port = free_port()
    path = devices_file(tmp_path / "devices.yaml", ["m1"], port=port, poll_interval_s=0.1, tags=30)
    (device,) = load_devices(path)
    async with serving([device], seed=1):
        poller = polling.start(device)
        await _until(lambda: len(polling.readings["m1"]) >= 3)
    reading = polling.readings["m1"][2]
    assert len(reading.values) == 30
    assert set(reading.quality.values()) == {"good"}
    extra = {k: v for k, v in reading.values.items() if k.startswith("tag_")}
    assert len(extra) == 22
    assert all(40.0 <= v <= 60.0 for v in extra.values())
    inputs = [r for r in poller.requests if r.table == "input"]
    assert [(r.address, r.count) for r in inputs] == [(0, 44)]
