"""The connector's health endpoints as compose uses them: a real connector process, a real
simulator and the session's Kafka; and one whose Kafka does not answer."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest
from modbustools import example_devices, line_with, process_env, start_python

from contracts.settings import CommonSettings
from infra.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def _connector(
    bootstrap: str, prefix: str, devices: Path, tmp_path: Path, health_port: int
) -> asyncio.subprocess.Process:
    return await start_python(
        "-m",
        "connectors",
        env=process_env(
            MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            MILLSTREAM_TOPIC_PREFIX=prefix,
            MILLSTREAM_CONNECTOR_DEVICES_FILE=str(devices),
            MILLSTREAM_CONNECTOR_SPOOL_DIR=str(tmp_path / f"spool-{health_port}"),
            MILLSTREAM_CONNECTOR_HEALTH_PORT=str(health_port),
            MILLSTREAM_CONNECTOR_HEALTH_STALL_S="3",
            MILLSTREAM_CONNECTOR_LINGER_MS="5",
            MILLSTREAM_CONNECTOR_FLUSH_TIMEOUT_S="2",
        ),
    )


async def _get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5.0) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


async def _stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(40):
        assert proc.stderr is not None
        await proc.stderr.read()
        return await proc.wait()


async def test_connector_is_live_and_ready_with_kafka_and_polled_devices(
    common_settings: CommonSettings, tmp_path: Path
) -> None:
    devices = example_devices(tmp_path, free_port())
    sim = await start_python(
        "-m",
        "connectors.simulator",
        "--devices",
        str(devices),
        "--tick-s",
        "0.1",
        env=process_env(),
    )
    health_port = free_port()
    connector = None
    try:
        await line_with(sim, "simulator listening", timeout_s=20)
        connector = await _connector(
            common_settings.kafka_bootstrap_servers,
            common_settings.topic_prefix,
            devices,
            tmp_path,
            health_port,
        )
        await line_with(connector, "health served", timeout_s=30)
        live = await _get(health_port, "/health/live")
        assert (live.status_code, live.json()) == (200, {"status": "live"})
        async with asyncio.timeout(30):
            while (ready := await _get(health_port, "/health/ready")).status_code != 200:
                assert ready.status_code == 503
                await asyncio.sleep(0.2)
        assert ready.json() == {"status": "ready"}
        assert (await _get(health_port, "/health/ready/")).status_code == 200
        assert (await _get(health_port, "/metrics")).status_code == 404
        assert await _stop(connector) == 0
    finally:
        if connector is not None and connector.returncode is None:
            connector.kill()
        sim.send_signal(signal.SIGTERM)
        await sim.wait()


async def test_connector_without_kafka_is_live_but_not_ready(tmp_path: Path) -> None:
    # Devices that do not answer either: polling goes on (failed connections count).
    devices = example_devices(tmp_path, free_port())
    health_port = free_port()
    connector = await _connector(
        f"127.0.0.1:{free_port()}", "nowhere", devices, tmp_path, health_port
    )
    try:
        await line_with(connector, "health served", timeout_s=30)
        for _ in range(5):
            live = await _get(health_port, "/health/live")
            assert live.status_code == 200
            ready = await _get(health_port, "/health/ready")
            assert ready.status_code == 503
            assert ready.json() == {"status": "not ready", "reason": "not connected to Kafka yet"}
            await asyncio.sleep(0.3)
    finally:
        # Its Kafka client would wait out a bootstrap timeout on SIGTERM: not under test here.
        connector.kill()
        await connector.wait()
