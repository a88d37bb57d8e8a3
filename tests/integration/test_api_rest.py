"""The REST surface against a real Kafka broker and InfluxDB server, over real HTTP."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from apiserver import end_offsets, records_since
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from api.auth.keys import mint_key
from api.auth.roles import Role
from api.settings import ApiSettings
from contracts.machines import MachineInfo, SensorInfo
from contracts.readings import decode_reading
from contracts.timefmt import format_ts, now_ms
from kafka_edge.aio_clients import aio_producer
from kafka_edge.connection import KafkaConnection, ProducerSettings

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    """Topics of this module's own; one server serves every test of the module."""
    return make_api_settings(
        partitions=3,
        kafka_produce_timeout_s=5.0,
    )


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes | None) -> None:
    producer = aio_producer(KafkaConnection.plain(bootstrap), ProducerSettings())
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def _poll_status(
    http: httpx.AsyncClient, url: str, status: int, headers: dict[str, str]
) -> httpx.Response:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        response = await http.get(url, headers=headers)
        if response.status_code == status or time.monotonic() >= deadline:
            return response
        await asyncio.sleep(0.2)


# --- POST /api/readings ---------------------------------------------------------------


async def test_seed_reading_is_created_and_lands_on_the_readings_topic(
    http: httpx.AsyncClient, api_settings: ApiSettings, admin_key: str
) -> None:
    topic = api_settings.topics.readings
    since = await end_offsets(api_settings.kafka_bootstrap_servers, topic)

    response = await http.post(
        "/api/readings",
        headers={"X-API-Key": admin_key, "Content-Type": "application/json"},
        content=b'{"machine_id": 42, "temperature_c": 67.5}',
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert body["readings"][0]["machine_id"] == 42
    records = await records_since(api_settings.kafka_bootstrap_servers, since, count=1)
    assert len(records) == 1
    key, value = records[0]
    assert key == b"42"
    reading = decode_reading(value)
    assert reading.values == {"temperature_c": 67.5}
    assert reading.source == "api:bootstrap-admin"
    assert body["readings"][0]["ts"] == orjson.loads(value)["ts"]


async def test_batch_with_timestamps_is_accepted_in_order(
    http: httpx.AsyncClient, api_settings: ApiSettings, admin_key: str
) -> None:
    topic = api_settings.topics.readings
    since = await end_offsets(api_settings.kafka_bootstrap_servers, topic)
    base_ms = (now_ms() // 1000 - 60) * 1000
    batch = [
        {
            "machine_id": 7,
            "timestamp": format_ts(base_ms + 1000 * i),
            "temperature_c": 60.0 + i,
            "pressure_bar": 4.8,
        }
        for i in range(3)
    ]

    response = await http.post("/api/readings", headers={"X-API-Key": admin_key}, json=batch)

    assert response.status_code == 201, response.text
    assert [r["ts"] for r in response.json()["readings"]] == [
        format_ts(base_ms + 1000 * i) for i in range(3)
    ]
    records = await records_since(api_settings.kafka_bootstrap_servers, since, count=3)
    temps = [decode_reading(v).values["temperature_c"] for _, v in records]
    assert temps == [60.0, 61.0, 62.0]


async def test_missing_and_wrong_key_are_401(http: httpx.AsyncClient) -> None:
    reading = {"machine_id": 42, "temperature_c": 67.5}

    missing = await http.post("/api/readings", json=reading)
    wrong = await http.post("/api/readings", json=reading, headers={"X-API-Key": "sk_prod_nope"})
    listing = await http.get("/api/machines", headers={"X-API-Key": "sk_prod_nope"})

    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["detail"]
    assert "missing" in missing.json()["detail"]
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "X-API-Key: not a valid API key"}
    assert listing.status_code == 401


async def test_invalid_readings_are_422_naming_the_field(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    headers = {"X-API-Key": admin_key}

    bad_value = await http.post(
        "/api/readings", headers=headers, json={"machine_id": 42, "temperature_c": "hot"}
    )
    no_machine = await http.post("/api/readings", headers=headers, json={"temperature_c": 1.0})
    bad_batch = await http.post(
        "/api/readings",
        headers=headers,
        json=[{"machine_id": 42, "temperature_c": 1.0}, {"machine_id": 42, "power_kw": None}],
    )
    not_json = await http.post("/api/readings", headers=headers, content=b"{machine_id: 42")

    assert bad_value.status_code == 422
    assert bad_value.json()["detail"].startswith("temperature_c:")
    assert no_machine.status_code == 422
    assert no_machine.json()["detail"].startswith("machine_id:")
    assert bad_batch.status_code == 422
    assert bad_batch.json()["detail"].startswith("[1].power_kw:")
    assert not_json.status_code == 400
    assert not_json.json()["detail"].startswith("body:")


async def test_key_minted_onto_the_topic_is_followed_and_roles_apply(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    minted = mint_key(name="hall-b-screen", role=Role.operator, created_ms=now_ms())
    await _produce(
        api_settings.kafka_bootstrap_servers,
        api_settings.topics.api_keys,
        minted.record.key(),
        minted.record.encode(),
    )
    headers = {"X-API-Key": minted.secret}

    listing = await _poll_status(http, "/api/machines", 200, headers)
    post = await http.post(
        "/api/readings", headers=headers, json={"machine_id": 42, "temperature_c": 67.5}
    )

    assert listing.status_code == 200, listing.text
    assert post.status_code == 403
    assert "engineer" in post.json()["detail"]

    await _produce(
        api_settings.kafka_bootstrap_servers,
        api_settings.topics.api_keys,
        minted.record.key(),
        None,
    )
    revoked = await _poll_status(http, "/api/machines", 401, headers)
    assert revoked.status_code == 401


# --- GET /api/machines ----------------------------------------------------------------


async def test_machines_come_from_the_registry_topic(
    http: httpx.AsyncClient, api_settings: ApiSettings, admin_key: str
) -> None:
    machine_id = str(900_000 + secrets.randbelow(99_999))
    info = MachineInfo(
        machine_id=machine_id,
        name="CNC Lathe - Haas ST-20",
        plant="plant-1",
        line="3",
        location="Hall B, Line 3",
        sensors=(SensorInfo(name="temperature_c", unit="°C"),),
    )
    await _produce(
        api_settings.kafka_bootstrap_servers,
        api_settings.topics.machines,
        info.key(),
        info.encode(),
    )
    headers = {"X-API-Key": admin_key}

    one = await _poll_status(http, f"/api/machines/{machine_id}", 200, headers)
    listing = await http.get("/api/machines", headers=headers)
    unknown = await http.get("/api/machines/no-such-machine", headers=headers)

    assert one.status_code == 200, one.text
    assert one.json()["machine_id"] == int(machine_id)
    assert one.json()["name"] == "CNC Lathe - Haas ST-20"
    assert one.json()["sensor_info"] == {"temperature_c": {"unit": "°C"}}
    assert int(machine_id) in [m["machine_id"] for m in listing.json()]
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "machine no-such-machine: not found"}


# --- GET /api/machines/{id}/readings --------------------------------------------------


@pytest.fixture
async def history_machine(api_settings: ApiSettings) -> tuple[str, datetime]:
    """A fresh machine id with three readings written as line protocol, 10 s apart."""
    machine_id = f"it-{uuid.uuid4().hex[:10]}"
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    lines = []
    for i in range(3):
        ts_ns = int((base + timedelta(seconds=10 * i)).timestamp()) * 1_000_000_000
        lines.append(
            f"readings,plant=plant-1,line=3,machine_id={machine_id} "
            f'temperature_c={68.0 + i},power_kw={12.0 + i},status="run" {ts_ns}'
        )
    async with InfluxDBClientAsync(
        url=api_settings.influx_url,
        token=api_settings.influx_token.get_secret_value(),
        org=api_settings.influx_org,
    ) as client:
        await client.write_api().write(bucket=api_settings.influx_bucket, record="\n".join(lines))
    return machine_id, base


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_history_returns_points_pivoted_by_time(
    http: httpx.AsyncClient, admin_key: str, history_machine: tuple[str, datetime]
) -> None:
    machine_id, base = history_machine
    params = {"start": _iso(base - timedelta(minutes=1)), "stop": "now"}

    response = await http.get(
        f"/api/machines/{machine_id}/readings", params=params, headers={"X-API-Key": admin_key}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["machine_id"] == machine_id
    assert body["truncated"] is False
    assert body["points"] == [
        {
            "ts": (base + timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "temperature_c": 68.0 + i,
            "power_kw": 12.0 + i,
        }
        for i in range(3)
    ]


async def test_history_fields_window_and_limit(
    http: httpx.AsyncClient, admin_key: str, history_machine: tuple[str, datetime]
) -> None:
    machine_id, base = history_machine
    headers = {"X-API-Key": admin_key}
    url = f"/api/machines/{machine_id}/readings"
    start = _iso(base - timedelta(minutes=1))

    one_field = await http.get(
        url, params={"start": start, "fields": "temperature_c", "limit": 2}, headers=headers
    )
    windowed = await http.get(
        url,
        # Written straight to the telemetry bucket: no pipeline windows, so raw points.
        params={
            "start": start,
            "fields": "temperature_c,power_kw",
            "window": "1h",
            "fn": "max",
            "source": "raw",
        },
        headers=headers,
    )

    assert one_field.status_code == 200, one_field.text
    assert [p["temperature_c"] for p in one_field.json()["points"]] == [68.0, 69.0]
    assert all(set(p) == {"ts", "temperature_c"} for p in one_field.json()["points"])
    assert one_field.json()["truncated"] is True
    assert windowed.status_code == 200, windowed.text
    points = windowed.json()["points"]
    assert max(p["temperature_c"] for p in points) == 70.0
    assert max(p["power_kw"] for p in points) == 14.0


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start": "yesterday"}, "start"),
        ({"stop": "2025-12-20T14:30:00"}, "stop"),
        ({"fields": 'temperature_c") |> drop(columns: ["_value"]'}, "fields"),
        ({"window": "1m; drop"}, "window"),
        ({"window": "1m", "fn": "doSomething"}, "fn"),
        ({"fn": "mean"}, "window"),
        ({"limit": "many"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"start": "now", "stop": "-1h"}, "start"),
    ],
)
async def test_history_rejects_bad_parameters_naming_them(
    http: httpx.AsyncClient, admin_key: str, params: dict[str, str], named: str
) -> None:
    response = await http.get(
        "/api/machines/42/readings", params=params, headers={"X-API-Key": admin_key}
    )

    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{named}:")


# --- health ---------------------------------------------------------------------------


async def test_health_and_ready_need_no_key(http: httpx.AsyncClient) -> None:
    health = await http.get("/health")
    ready = await http.get("/ready")

    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "kafka": "ok", "influxdb": "ok"}


async def test_unknown_route_is_json_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_a_trailing_slash_is_a_relative_redirect(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    """301 (308 for a body) to the path without the slash; the Host header is not used."""
    spoofed = {"Host": "attacker.example", "X-API-Key": admin_key}

    listed = await http.get("/api/machines/?limit=5", headers=spoofed)
    posted = await http.post("/api/readings/", headers=spoofed, json={"machine_id": 1, "t": 1})
    unknown = await http.get("/api/nothing-here/", headers=spoofed)
    doubled = await http.get(http.base_url.copy_with(raw_path=b"//api/machines/"), headers=spoofed)

    assert listed.status_code == 301
    assert listed.headers["location"] == "/api/machines?limit=5"
    assert posted.status_code == 308
    assert posted.headers["location"] == "/api/readings"
    assert unknown.status_code == 404
    assert doubled.status_code == 404
    followed = await http.get(listed.headers["location"], headers={"X-API-Key": admin_key})
    assert followed.status_code == 200


async def test_the_openapi_examples_of_post_readings_are_accepted(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    schema = (await http.get("/openapi.json")).json()
    content = schema["paths"]["/api/readings"]["post"]["requestBody"]["content"]
    examples = content["application/json"]["examples"]
    assert examples
    for name, example in examples.items():
        posted = await http.post(
            "/api/readings", headers={"X-API-Key": admin_key}, json=example["value"]
        )
        assert posted.status_code == 201, (name, posted.text)
