"""The two entry points as processes: the simulator serves, the connector produces, both stop
cleanly on a signal."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest
from modbustools import example_devices, line_with, process_env, start_python

from connectors.config.devices import load_devices
from connectors.modbus.poller import DevicePoller
from contracts.readings import Reading
from contracts.settings import CommonSettings
from infra.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def _start_simulator(devices_file: Path, *args: str) -> asyncio.subprocess.Process:
    return await start_python(
        "-m",
        "connectors.simulator",
        "--devices",
        str(devices_file),
        "--tick-s",
        "0.1",
        *args,
        env=process_env(),
    )


async def _start_connector(
    settings: CommonSettings, devices_file: Path, tmp_path: Path, **extra: str
) -> asyncio.subprocess.Process:
    return await start_python(
        "-m",
        "connectors",
        env=process_env(
            MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
            MILLSTREAM_TOPIC_PREFIX=settings.topic_prefix,
            MILLSTREAM_CONNECTOR_DEVICES_FILE=str(devices_file),
            MILLSTREAM_CONNECTOR_SPOOL_DIR=str(tmp_path / "spool"),
            **extra,
        ),
    )


async def _stop(proc: asyncio.subprocess.Process, sig: signal.Signals) -> tuple[int, str]:
    proc.send_signal(sig)
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        rest = (await proc.stderr.read()).decode()
        code = await proc.wait()
    return code, rest


async def test_simulator_process_serves_and_stops_on_sigint() -> None:
    port = free_port()
    sim = await start_python(
        "-m",
        "connectors.simulator",
        "--devices",
        "devices.example.yaml",
        "--port-override",
        str(port),
        "--tick-s",
        "0.1",
        "--seed",
        "3",
        env=process_env(),
    )
    try:
        line = await line_with(sim, "simulator listening", timeout_s=20)
        assert f"address=127.0.0.1:{port}" in line
        assert "devices=42(unit 1)" in line
        (example,) = load_devices(REPO / "devices.example.yaml")
        readings: list[Reading] = []
        poller = DevicePoller(example.model_copy(update={"port": port}), sink=readings.append)
        await poller.scan_once()
    finally:
        code, rest = await _stop(sim, signal.SIGINT)
    assert code == 0
    assert "simulator stopped" in rest
    (reading,) = readings
    assert set(reading.quality.values()) == {"good"}
    assert 60.0 < reading.values["temperature_c"] < 80.0


async def test_connector_process_produces_and_exits_0_on_sigterm(
    common_settings: CommonSettings, tmp_path: Path
) -> None:
    devices_file = example_devices(tmp_path, free_port())
    sim = await _start_simulator(devices_file)
    connector = None
    try:
        await line_with(sim, "simulator listening", timeout_s=20)
        connector = await _start_connector(
            common_settings,
            devices_file,
            tmp_path,
            MILLSTREAM_CONNECTOR_ID="cli-test",
            MILLSTREAM_CONNECTOR_LINGER_MS="5",
        )
        await line_with(connector, "modbus connected machine_id=42", timeout_s=30)
        await asyncio.sleep(1.0)
        code, rest = await _stop(connector, signal.SIGTERM)
    finally:
        if connector is not None and connector.returncode is None:
            connector.kill()
        await _stop(sim, signal.SIGTERM)
    assert code == 0
    assert "connector stopped connector_id=cli-test" in rest
    stopped = next(line for line in rest.splitlines() if "connector stopped" in line)
    fields = dict(part.split("=", 1) for part in stopped.split() if "=" in part)
    assert int(fields["delivered"]) >= 3
    assert fields["spooled"] == "0"
    assert fields["failed"] == "0"


async def _scrape(url: str) -> dict[str, float]:
    """``/metrics`` over HTTP, as ``{'name{labels}': value}``."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def test_connector_metrics_endpoint_over_http_counts_a_simulated_exception_episode(
    common_settings: CommonSettings, tmp_path: Path
) -> None:
    metrics_port = free_port()
    devices_file = example_devices(tmp_path, free_port())
    sim = await _start_simulator(
        devices_file, "--exception", "42:holding:0+2:slave_device_busy:0:1:2"
    )
    connector = None
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    polls = 'millstream_connector_polls_total{machine_id="42"}'
    refused = 'millstream_connector_errors_total{kind="refused",machine_id="42"}'
    try:
        await line_with(sim, "simulator listening", timeout_s=20)
        connector = await _start_connector(
            common_settings,
            devices_file,
            tmp_path,
            MILLSTREAM_CONNECTOR_ID="metrics-test",
            MILLSTREAM_CONNECTOR_METRICS_PORT=str(metrics_port),
        )
        await line_with(connector, "metrics served", timeout_s=30)
        first: dict[str, float] = {}
        async with asyncio.timeout(20):
            while first.get(refused, 0) < 3 or first.get(polls, 0) < 10:
                await asyncio.sleep(0.3)
                first = await _scrape(url)
        await asyncio.sleep(1.0)
        later = await _scrape(url)
        code, _ = await _stop(connector, signal.SIGTERM)
    finally:
        if connector is not None and connector.returncode is None:
            connector.kill()
        await _stop(sim, signal.SIGTERM)
    assert code == 0
    # Polling goes on through the episodes: the counters keep rising between scrapes.
    assert later[polls] > first[polls]
    assert later['millstream_connector_values_total{quality="good"}'] > 0
    assert later['millstream_connector_values_total{quality="bad"}'] >= later[refused] >= 3
    assert later['millstream_connector_errors_total{kind="transport",machine_id="42"}'] == 0
    assert later["millstream_connector_request_seconds_count"] >= later[polls]
