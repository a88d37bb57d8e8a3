"""The seed's machine object over real HTTP, with live values from a real InfluxDB and
alarms and registry records from a real Kafka broker: its fields, its status, the
GET -> change -> PUT round trip, the seed's own object as a PUT body, 304 and 412."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from apiserver import ServerThread
from fastapi import FastAPI
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from api.settings import ApiSettings
from contracts.alarm_state import AlarmStateRecord
from contracts.machines import MachineInfo, SensorInfo
from contracts.timefmt import now_ms
from kafka_edge.aio_clients import aio_producer
from kafka_edge.connection import KafkaConnection, ProducerSettings

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0

# The user's reference document's machine object, as printed there.
SEED_MACHINE: dict[str, Any] = {
    "machine_id": 42,
    "name": "CNC Lathe - Haas ST-20",
    "location": "Hall B, Line 3",
    "status": "running",
    "temperature_c": 67.5,
    "spindle_rpm": 2400,
    "alarms": [],
    "last_maintenance": "2025-12-15",
    "sensors": {"vibration_mm_s": 3.2, "oil_pressure_bar": 4.8, "power_kw": 12.7},
}


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(partitions=1, machine_offline_after_s=30)


@pytest.fixture
def http_headers(admin_headers: dict[str, str]) -> dict[str, str]:
    return admin_headers


def _machine_id() -> str:
    """A numeric id no other test writes to the session's shared InfluxDB."""
    return str(800_000_000 + secrets.randbelow(99_999_999))


async def _write_values(settings: ApiSettings, machine_id: str, fields: str, ts_ms: int) -> None:
    async with InfluxDBClientAsync(
        url=settings.influx_url,
        token=settings.influx_token.get_secret_value(),
        org=settings.influx_org,
    ) as client:
        line = f"readings,machine_id={machine_id},plant=hall-b,line=3 {fields} {ts_ms}"
        await client.write_api().write(
            bucket=settings.influx_bucket, record=line, write_precision="ms"
        )


async def _produce(settings: ApiSettings, topic: str, key: bytes, value: bytes | None) -> None:
    producer = aio_producer(KafkaConnection.from_settings(settings), ProducerSettings())
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def _connector_publishes(app: FastAPI, settings: ApiSettings, info: MachineInfo) -> None:
    """Produce ``info`` as a connector does at start-up, and wait until the API read it."""
    await _produce(settings, settings.topics.machines, info.key(), info.encode())
    table = app.state.services.machines.table
    deadline = time.monotonic() + DEADLINE_S
    while table.connector_record(info.machine_id) != info:
        assert time.monotonic() < deadline, "connector record not read"
        await asyncio.sleep(0.05)


async def _alarm(app: FastAPI, settings: ApiSettings, machine_id: str, rule: str) -> None:
    sensor = "machine" if rule == "comm_loss" else "temperature_c"
    record = AlarmStateRecord(
        alarm_id=f"{machine_id}:{sensor}:{rule}",
        machine_id=machine_id,
        sensor=sensor,
        rule=rule,
        severity="high",
        state="active_unacknowledged",
        active=True,
        value=91.0,
        threshold=85.0,
        raised_ts_ms=now_ms(),
        updated_ts_ms=now_ms(),
    )
    await _produce(settings, settings.topics.alarm_state, record.key(), record.encode())
    alarms = app.state.services.alarms
    deadline = time.monotonic() + DEADLINE_S
    while alarms.table.get(record.alarm_id) != record:
        assert time.monotonic() < deadline, "alarm state not read"
        await asyncio.sleep(0.05)


def _lathe(machine_id: str) -> MachineInfo:
    return MachineInfo(
        machine_id=machine_id,
        name="CNC Lathe - Haas ST-20",
        plant="hall-b",
        line="3",
        location="Hall B, Line 3",
        sensors=(SensorInfo(name="temperature_c", unit="°C"), SensorInfo(name="spindle_rpm")),
    )


async def test_a_client_written_against_the_seed_finds_every_field(
    app: FastAPI, http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    machine_id = _machine_id()
    await _connector_publishes(app, api_settings, _lathe(machine_id))
    await _write_values(
        api_settings,
        machine_id,
        "temperature_c=67.5,spindle_rpm=2400,vibration_mm_s=3.2,oil_pressure_bar=4.8,"
        "power_kw=12.7,running=1",
        now_ms() - 2000,
    )
    schedule = {"task": "Change spindle oil", "due_date": "2026-03-15", "done_at": "2025-12-15"}
    posted = await http.post(f"/api/machines/{machine_id}/maintenance", json=schedule)
    assert posted.status_code == 201, posted.text

    response = await http.get(f"/api/machines/{machine_id}")

    assert response.status_code == 200, response.text
    machine = response.json()
    assert machine["machine_id"] == int(machine_id)
    for field, seed_value in SEED_MACHINE.items():
        if field not in ("machine_id", "sensors"):
            assert machine[field] == seed_value, field
    assert machine["sensors"]["vibration_mm_s"] == 3.2
    assert {k: machine["sensors"][k] for k in SEED_MACHINE["sensors"]} == SEED_MACHINE["sensors"]
    assert machine["sensor_info"] == {"temperature_c": {"unit": "°C"}, "spindle_rpm": {"unit": ""}}
    assert machine["primary_sensors"] == ["temperature_c", "spindle_rpm"]
    assert response.headers["ETag"].startswith('W/"')
    listed = (await http.get("/api/machines")).json()
    assert [m for m in listed if m["machine_id"] == int(machine_id)] == [
        {k: machine[k] for k in listed[0]}
    ]
    assert "status" not in listed[0]  # the list stays light


async def test_status_from_the_running_coil_alarms_and_communication_loss(
    app: FastAPI, http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    machine_id = _machine_id()
    url = f"/api/machines/{machine_id}"
    await _connector_publishes(app, api_settings, _lathe(machine_id))
    assert (await http.get(url)).json()["status"] == "offline"  # no reading at all

    await _write_values(api_settings, machine_id, "temperature_c=40,running=0", now_ms() - 1000)
    assert (await http.get(url)).json()["status"] == "stopped"

    await _alarm(app, api_settings, machine_id, "high")
    alarmed = (await http.get(url)).json()
    assert alarmed["status"] == "alarm"
    assert [a["alarm_id"] for a in alarmed["alarms"]] == [f"{machine_id}:temperature_c:high"]
    assert alarmed["alarms"][0]["machine_id"] == int(machine_id)  # a number, as everywhere

    await _alarm(app, api_settings, machine_id, "comm_loss")
    assert (await http.get(url)).json()["status"] == "offline"

    stale = _machine_id()
    await _connector_publishes(app, api_settings, _lathe(stale))
    await _write_values(api_settings, stale, "temperature_c=40,running=1", now_ms() - 120_000)
    old = (await http.get(f"/api/machines/{stale}")).json()
    assert old["status"] == "offline" and old["temperature_c"] == 40.0


async def test_get_change_put_round_trip_with_304_and_412(
    app: FastAPI, http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    machine_id = _machine_id()
    url = f"/api/machines/{machine_id}"
    await _connector_publishes(app, api_settings, _lathe(machine_id))
    await _write_values(api_settings, machine_id, "temperature_c=60,running=1", now_ms() - 3000)
    first = await http.get(url)
    tag = first.headers["ETag"]

    # Live values move on; the writable fields did not, so the ETag still holds.
    await _write_values(api_settings, machine_id, "temperature_c=61", now_ms() - 1000)
    assert (await http.get(url)).json()["temperature_c"] == 61.0
    assert (await http.get(url, headers={"If-None-Match": tag})).status_code == 304

    changed = {**first.json(), "location": "Hall C, Line 1"}
    put = await http.put(url, json=changed, headers={"If-Match": tag})
    assert put.status_code == 200, put.text
    assert put.json()["location"] == "Hall C, Line 1"
    assert put.json()["temperature_c"] == 61.0  # the live part, not the PUT body's 60
    assert put.headers["ETag"] != tag
    again = await http.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 200 and again.headers["ETag"] == put.headers["ETag"]
    stale = await http.put(url, json=changed, headers={"If-Match": tag})
    assert stale.status_code == 412


async def test_the_seeds_own_object_posts_and_puts(http: httpx.AsyncClient) -> None:
    created = await http.post("/api/machines", json=SEED_MACHINE)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/api/machines/42"

    put = await http.put("/api/machines/42", json=SEED_MACHINE)

    assert put.status_code == 200, put.text
    body = put.json()
    assert (body["machine_id"], body["name"], body["location"]) == (
        42,
        *list(SEED_MACHINE.values())[1:3],
    )
    assert body["sensor_info"] == {}  # the seed's values are read-only, not metadata


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"machine_id": 43}, "machine_id"),
        ({"machine_id": "4 2"}, "machine_id"),
        ({"machine_id": True}, "machine_id"),
        ({"colour": "red"}, "colour"),
        ({"sensors": [{"name": "temperature_c", "unit": "°C"}]}, "sensor_info"),
        ({"primary_sensors": ["status"]}, "primary_sensors"),
        ({"sensor_info": {"Temp C": {"unit": "°C"}}}, "sensor_info"),
    ],
)
async def test_put_refuses_another_id_and_unknown_fields_naming_them(
    http: httpx.AsyncClient, change: dict[str, Any], named: str
) -> None:
    await http.post("/api/machines", json={"machine_id": 42})
    response = await http.put("/api/machines/42", json={**SEED_MACHINE, **change})
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]


async def test_primary_sensors_are_declared_per_machine(
    app: FastAPI, http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    machine_id = _machine_id()
    url = f"/api/machines/{machine_id}"
    await _connector_publishes(app, api_settings, _lathe(machine_id))
    await _write_values(api_settings, machine_id, "power_kw=12.7,temperature_c=50", now_ms() - 500)
    patched = await http.patch(url, json={"primary_sensors": ["power_kw", "pressure_bar"]})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["power_kw"] == 12.7 and body["pressure_bar"] is None
    assert "temperature_c" not in body and body["sensors"]["temperature_c"] == 50.0
    # what GET returned, primary values included, goes back as it is
    assert (await http.put(url, json=body)).status_code == 200


async def test_reposting_a_deleted_machine_keeps_the_connectors_fields(
    app: FastAPI, http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    machine_id = _machine_id()
    await _connector_publishes(app, api_settings, _lathe(machine_id))
    assert (await http.delete(f"/api/machines/{machine_id}")).status_code == 204

    again = await http.post("/api/machines", json={"machine_id": machine_id, "name": "lathe 2"})

    assert again.status_code == 201, again.text
    body = again.json()
    assert body["name"] == "lathe 2"
    assert (body["plant"], body["line"], body["location"]) == ("hall-b", "3", "Hall B, Line 3")
    assert set(body["sensor_info"]) == {"temperature_c", "spindle_rpm"}


DOC = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"
DOC_API = "API=http://127.0.0.1:8080/api"


def test_the_docs_commands_run_as_written(
    server: ServerThread, admin_key: str, tmp_path: Path
) -> None:
    httpx.post(
        f"{server.url}/api/machines", json={"machine_id": 42}, headers={"X-API-Key": admin_key}
    )
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S) if DOC_API in b]
    assert len(blocks) == 2
    outputs = []
    for block in blocks:
        script = block.replace(DOC_API, f"API={server.url}/api")
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env={**os.environ, "KEY": admin_key},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (script, done.stdout, done.stderr)
        outputs.append(done.stdout.strip().splitlines())
    assert outputs[0][-1] == "200"
    assert '"location":"Hall C, Line 1"' in outputs[0][0]
    assert outputs[1][-1] == "2025-12-15"
