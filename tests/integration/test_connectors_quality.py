"""Qualities a real pymodbus server provokes: ``stale`` when a tag's scan is late by more
than one interval, ``bad`` during the simulator's exception-response episodes."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest
from modbustools import machine_42, polled, until

from connectors.config.devices import parse_devices
from connectors.modbus.poller import LATE_GRACE_MS, DevicePoller
from connectors.simulator.faults import parse_episode
from connectors.simulator.server import SimulatorServer
from contracts.readings import Reading
from infra.ports import free_port
from tests.faults.faultproxy import proxy

pytestmark = pytest.mark.integration


_until = functools.partial(until, timeout_s=8.0)


async def test_fast_tags_starved_by_a_slow_group_turn_stale_then_good_again() -> None:
    port = free_port()
    # The 1 s group takes three requests 400 ms apart (~0.8 s) on the one connection,
    # so the 0.1 s tag misses more than one interval each time it runs.
    device = machine_42(
        port,
        [
            "{name: temperature_c, address: 0, type: float32, poll_interval_s: 0.1}",
            "{name: vibration_mm_s, address: 2, type: float32}",
            "{name: power_kw, address: 4, type: float32}",
            "{name: spindle_rpm, address: 6, type: uint16}",
        ],
        device_id=1,
        poll_interval_s=1.0,
        workarounds="{one_request_per_register: true, pause_between_requests_ms: 400}",
    )
    readings: list[Reading] = []
    poller = DevicePoller(device, sink=readings.append)
    async with polled(SimulatorServer([device], tick_s=0.1, seed=5), poller):
        await _until(lambda: poller.stats.stale_episodes >= 2)
        await _until(lambda: readings[-1].quality.get("temperature_c") == "good")
    stale = [r for r in readings if "stale" in r.quality.values()]
    assert len(stale) >= 2
    for reading in stale:
        assert reading.quality == {"temperature_c": "stale"}
        previous = [r for r in readings if r.seq < reading.seq and "temperature_c" in r.values]
        assert reading.values["temperature_c"] == previous[-1].values["temperature_c"]
    seqs = [r.seq for r in readings]
    assert seqs == list(range(1, len(readings) + 1))
    # The slow tags are read on time: never stale.
    assert all(r.quality.get("vibration_mm_s") in (None, "good") for r in readings)
    assert poller.stats.values["stale"] == len(stale)
    assert poller.stats.transport_errors == 0


async def test_tags_read_on_time_are_never_stale() -> None:
    port = free_port()
    device = machine_42(
        port,
        [
            "{name: temperature_c, address: 0, type: float32, deadband: 100.0, heartbeat_s: 0.9}",
            "{name: power_kw, address: 4, type: float32, poll_interval_s: 0.3}",
        ],
        device_id=1,
        poll_interval_s=0.2,
    )
    readings: list[Reading] = []
    poller = DevicePoller(device, sink=readings.append)
    async with polled(SimulatorServer([device], tick_s=0.1, seed=6), poller):
        await _until(lambda: poller.stats.scans >= 15)
    assert poller.stats.stale_episodes == 0
    assert all(set(r.quality.values()) == {"good"} for r in readings)
    # The deadband left temperature out of most readings (heartbeat every 0.9 s): that
    # is "unchanged", not stale.
    with_temperature = [r for r in readings if "temperature_c" in r.values]
    assert 2 <= len(with_temperature) < poller.stats.scans


async def test_exception_episode_marks_its_values_bad_and_polling_goes_on() -> None:
    port = free_port()
    (lathe, press) = parse_devices(
        f"""
devices:
  - machine_id: 42
    host: 127.0.0.1
    port: {port}
    device_id: 1
    poll_interval_s: 0.1
    registers:
      - {{name: temperature_c, address: 0, type: float32}}
      - {{name: level_pct, address: 0, type: int16, table: input, scale: 0.1}}
  - machine_id: 43
    host: 127.0.0.1
    port: {port}
    device_id: 2
    poll_interval_s: 0.1
    registers:
      - {{name: temperature_c, address: 0, type: float32}}
""",
        source="test.yaml",
    )
    episode = parse_episode("42:holding:0+2:slave_device_busy:0.5:1.0")
    server = SimulatorServer([lathe, press], tick_s=0.1, seed=7, exception_episodes=[episode])
    readings: dict[str, list[Reading]] = {"42": [], "43": []}
    pollers = [DevicePoller(d, sink=readings[d.machine_id].append) for d in (lathe, press)]

    def temperature(reading: Reading) -> str | None:
        return reading.quality.get("temperature_c")

    async with polled(server, *pollers):
        await _until(lambda: any(temperature(r) == "bad" for r in readings["42"]))
        await _until(
            lambda: (
                temperature(readings["42"][-1]) == "good" and pollers[0].stats.refused_requests >= 3
            )
        )
    lathe_readings = readings["42"]
    bad = [r for r in lathe_readings if temperature(r) == "bad"]
    first_bad = lathe_readings.index(bad[0])
    assert first_bad > 0
    # The refused tag carries its last good value; the other table is read fine meanwhile.
    assert bad[0].values["temperature_c"] == lathe_readings[first_bad - 1].values["temperature_c"]
    assert all(r.quality["level_pct"] == "good" for r in lathe_readings)
    assert len(bad) == pollers[0].stats.refused_requests
    assert 5 <= len(bad) <= 15  # ~1 s of 0.1 s scans
    assert pollers[0].stats.transport_errors == 0
    assert pollers[0].stats.values["bad"] == len(bad)
    # The other machine on the same server is never refused.
    assert pollers[1].stats.refused_requests == 0
    assert len(readings["43"]) >= 10
    assert all(r.quality == {"temperature_c": "good"} for r in readings["43"])


async def test_a_late_connector_yields_one_good_reading_per_scan() -> None:
    # The event loop is held for 90 ms every 300 ms (a busy connector): the 20 ms tags
    # miss more than one interval each time, and nothing else holds their connection.
    port = free_port()
    device = machine_42(
        port,
        [
            "{name: temperature_c, address: 0, type: float32}",
            "{name: power_kw, address: 4, type: float32}",
        ],
        device_id=1,
        poll_interval_s=0.02,
    )
    readings: list[Reading] = []
    poller = DevicePoller(device, sink=readings.append)

    async def busy() -> None:
        while True:
            await asyncio.sleep(0.3)
            time.sleep(0.09)  # holds the loop, as a connector behind on its work does

    async with polled(SimulatorServer([device], tick_s=0.1, seed=7), poller):
        hog = asyncio.create_task(busy())
        await _until(lambda: poller.stats.stale_episodes >= 3)
        hog.cancel()
    # One reading per scan: no extra report of the last good values between scans, and the
    # late scans' values, read fresh from the device, stay good for the limit alarms.
    assert poller.stats.readings == poller.stats.scans - poller.stats.skipped_scans
    assert all(set(r.quality.values()) == {"good"} for r in readings)
    assert [r.seq for r in readings] == list(range(1, len(readings) + 1))


async def test_a_slow_scan_of_a_device_answering_each_request_stays_good() -> None:
    # Three requests 80 ms apart hold the connection ~160 ms, more than two 20 ms intervals
    # and the grace: the tags go stale during each scan, but the device answers every
    # request at once, so the scan's fresh values end the episode and nothing is stale.
    tags = ("temperature_c", "vibration_mm_s", "power_kw")
    device = machine_42(
        free_port(),
        [f"{{name: {name}, address: {2 * i}, type: float32}}" for i, name in enumerate(tags)],
        device_id=1,
        poll_interval_s=0.02,
        workarounds="{one_request_per_register: true, pause_between_requests_ms: 80}",
    )
    poller = DevicePoller(device, sink=(readings := []).append)
    async with polled(SimulatorServer([device], tick_s=0.1, seed=9), poller):
        await _until(lambda: poller.stats.stale_episodes >= 3 and poller.stats.scans >= 4)
    assert poller.stats.readings == poller.stats.scans - poller.stats.skipped_scans
    assert {q for r in readings for q in r.quality.values()} == {"good"}
    assert "stale" not in poller.stats.values


async def test_a_silent_device_reports_its_tags_stale_before_the_comm_loss() -> None:
    sim_port = free_port()
    served = machine_42(sim_port, ["{name: temperature_c, address: 0, type: float32}"], device_id=1)
    readings: list[Reading] = []
    with proxy("127.0.0.1", sim_port) as hop:
        device = machine_42(
            hop.port,
            ["{name: temperature_c, address: 0, type: float32}"],
            device_id=1,
            poll_interval_s=0.05,
            timeout_s=3.0,
        )
        poller = DevicePoller(device, sink=readings.append)
        async with polled(SimulatorServer([served], tick_s=0.1, seed=8), poller):
            await _until(lambda: poller.stats.scans >= 5)
            hop.stalled = True  # the device stops answering; the connection stays open
            stalled_at = time.monotonic()
            await _until(lambda: any("stale" in r.quality.values() for r in readings))
            reported_s = time.monotonic() - stalled_at
            await _until(lambda: readings[-1].quality.get("temperature_c") == "comm_loss")
            hop.stalled = False
    # Stale within two intervals and the grace (plus a scan in flight), not at the timeout.
    assert reported_s < 0.05 * 3 + LATE_GRACE_MS / 1000 + 1.0
    (stale,) = [r for r in readings if "stale" in r.quality.values()]
    good = [r for r in readings if r.seq < stale.seq]
    assert stale.values == {"temperature_c": good[-1].values["temperature_c"]}
    assert readings[-1].seq == stale.seq + 1  # then the comm_loss, nothing in between
