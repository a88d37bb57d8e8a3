"""docker-compose.yml, run for real with podman-compose: the journey `make run` passes.

Slow (images are built once and kept; a warm run still starts seven containers), so it runs
only when asked: `make test-compose`, or MILLSTREAM_COMPOSE_TEST=1 with podman and
podman-compose installed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import websockets
from influxdb_client import InfluxDBClient

from infra.ports import free_port
from infra.settings import InfraSettings
from tests.compose import images, stack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _skip_reason() -> str | None:
    missing = [tool for tool in ("podman", "podman-compose") if shutil.which(tool) is None]
    if missing:
        tools = ", ".join(missing)
        return f"no container engine: {tools} not installed (make test-compose installs them)"
    if os.environ.get("MILLSTREAM_COMPOSE_TEST") != "1":
        return "slow: run it with make test-compose (or MILLSTREAM_COMPOSE_TEST=1)"
    return None


@dataclass(frozen=True, slots=True)
class ComposeStack:
    base_url: str
    influx_url: str
    admin_key: str
    influx_token: str


@pytest.fixture(scope="module")
def compose_stack() -> Iterator[ComposeStack]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "docker" / "podman" / "containers.conf"))
    images.prepare(InfraSettings().cache_dir)
    secret = {
        name: secrets.token_urlsafe(32)
        for name in (
            "MILLSTREAM_INFLUX_TOKEN",
            "INFLUXDB_ADMIN_PASSWORD",
            "MILLSTREAM_API_ADMIN_API_KEY",
            "MILLSTREAM_API_JWT_SECRET",
        )
    }
    api_port, influx_port = free_port(), free_port()
    project = stack.ComposeProject(
        name=f"millstream-test-{os.getpid()}",
        env=stack.project_env(api_port=api_port, influx_port=influx_port, secrets=secret),
    )
    try:
        stack.up(project)
        yield ComposeStack(
            base_url=f"http://127.0.0.1:{api_port}",
            influx_url=f"http://127.0.0.1:{influx_port}",
            admin_key=secret["MILLSTREAM_API_ADMIN_API_KEY"],
            influx_token=secret["MILLSTREAM_INFLUX_TOKEN"],
        )
    finally:
        stack.down(project)


def test_api_is_ready(compose_stack: ComposeStack) -> None:
    resp = httpx.get(f"{compose_stack.base_url}/ready", timeout=10)
    assert resp.status_code == 200, resp.text


def test_machines_of_the_devices_file_are_listed(compose_stack: ComposeStack) -> None:
    headers = {"X-API-Key": compose_stack.admin_key}
    deadline = time.monotonic() + 60
    ids: set[object] = set()
    while time.monotonic() < deadline and 42 not in ids:
        resp = httpx.get(f"{compose_stack.base_url}/api/machines", headers=headers, timeout=10)
        assert resp.status_code == 200, resp.text
        ids = {m["machine_id"] for m in resp.json()}
        time.sleep(1)
    assert 42 in ids, ids


def test_machine_42_readings_are_stored_in_influxdb(compose_stack: ComposeStack) -> None:
    query = (
        'from(bucket: "telemetry") |> range(start: -10m)'
        ' |> filter(fn: (r) => r.machine_id == "42" and r._field == "temperature_c")'
    )
    deadline = time.monotonic() + 90
    values: list[object] = []
    with InfluxDBClient(
        url=compose_stack.influx_url, token=compose_stack.influx_token, org="millstream"
    ) as client:
        while time.monotonic() < deadline and len(values) < 3:
            tables = client.query_api().query(query)
            values = [rec.get_value() for table in tables for rec in table.records]
            time.sleep(2)
    assert len(values) >= 3, values
    assert all(isinstance(v, float) for v in values)


async def _first_overheat(url: str, *, timeout_s: float) -> tuple[int, dict[str, object] | None]:
    readings = 0
    async with websockets.connect(url) as ws:
        await ws.send(
            orjson.dumps(
                {"action": "subscribe", "machine_id": 42, "sensors": ["temperature"]}
            ).decode()
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(
                    ws.recv(), timeout=max(0.1, deadline - time.monotonic())
                )
            except TimeoutError:
                break
            frame = orjson.loads(raw)
            readings += frame.get("type") == "reading"
            if frame.get("type") == "alarm" and frame.get("event") == "raised":
                return readings, frame
    return readings, None


def test_overheat_alarm_arrives_on_live(compose_stack: ComposeStack) -> None:
    ws_url = (
        compose_stack.base_url.replace("http", "ws", 1) + f"/live?api_key={compose_stack.admin_key}"
    )
    readings, alarm = asyncio.run(_first_overheat(ws_url, timeout_s=150))
    assert readings >= 1
    assert alarm is not None, f"no alarm raised after {readings} readings"
    assert alarm["machine_id"] == 42
    assert alarm["sensor"] == "temperature_c"
