"""What ``POST /api/readings`` acknowledges is what InfluxDB keeps, through the real worker:
a sensor name the schema derives is refused at the door (so it cannot turn a field's type
and make later readings be dropped after their 201), and N acknowledged readings of a batch
are N points."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apiserver import ServerThread
from influxdb_client import InfluxDBClient
from test_pipeline_alarms import worker

from api.app import create_app
from api.settings import ApiSettings
from contracts.settings import CommonSettings
from contracts.timefmt import datetime_ms, format_ts, now_ms

pytestmark = pytest.mark.integration

DEADLINE_S = 90.0
DAY_MS = 86_400_000


@pytest.fixture
def api(
    common_settings: CommonSettings, service_env: dict[str, str], admin_key: str, tmp_path: Path
) -> Iterator[httpx.Client]:
    """The API and one worker on topics of the test's own."""
    settings = ApiSettings(**common_settings.model_dump(), admin_api_key=admin_key)
    with (
        worker(service_env, app_id=f"kept-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path),
        ServerThread(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=30) as http,
    ):
        yield http


def _rows(influx: Any, machine: str, field: str, days: int = 30) -> list[dict[str, Any]]:
    query = (
        f'from(bucket: "{influx.bucket}") |> range(start: -{days}d, stop: 1h) '
        f'|> filter(fn: (r) => r._measurement == "readings" and r.machine_id == "{machine}" '
        f'and r._field == "{field}")'
    )
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org) as client:
        tables = client.query_api().query(query)
    return [record.values for table in tables for record in table.records]


def _until_rows(influx: Any, machine: str, field: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        rows = _rows(influx, machine, field)
        if len(rows) >= count:
            return rows
        assert time.monotonic() < deadline, f"{machine}.{field}: {len(rows)} of {count} stored"
        time.sleep(0.5)


def test_a_quality_named_sensor_is_refused_and_bad_quality_is_still_stored(
    api: httpx.Client, influx: Any
) -> None:
    # A day of its own, days back, so that no other test's points share the InfluxDB shard
    # whose field types the first write decides.
    ts = format_ts(now_ms() - random.randint(5, 20) * DAY_MS - random.randint(0, DAY_MS))
    prober, victim = f"kept-p-{uuid.uuid4().hex[:6]}", f"kept-v-{uuid.uuid4().hex[:6]}"
    tried = api.post(
        "/api/readings",
        json={"machine_id": prober, "timestamp": ts, "temperature_c_quality": 1.0},
    )
    if tried.status_code == 201:
        # Were it accepted, it would reach InfluxDB first and decide the field's type.
        _until_rows(influx, prober, "temperature_c_quality", 1)
    bad = api.post(
        "/api/readings",
        json={
            "machine_id": victim,
            "timestamp": ts,
            "temperature_c": 91.5,
            "quality": {"temperature_c": "bad"},
        },
    )
    assert bad.status_code == 201, bad.text
    [row] = _until_rows(influx, victim, "temperature_c_quality", 1)
    assert row["_value"] == "bad"
    assert tried.status_code == 422, tried.text
    assert "temperature_c_quality" in tried.json()["detail"]
    for name in ("time", "result", "table"):
        refused = api.post("/api/readings", json={"machine_id": prober, name: 1.0})
        assert refused.status_code == 422, refused.text
        assert f"'{name}'" in refused.json()["detail"]


def test_n_acknowledged_readings_of_a_batch_are_n_points(api: httpx.Client, influx: Any) -> None:
    machines = [f"kept-n-{uuid.uuid4().hex[:6]}" for _ in range(4)]
    start = now_ms() - 60_000
    # One reading of each machine without a timestamp, then ten more with one each.
    batch: list[dict[str, Any]] = [{"machine_id": m, "power_kw": 0.5} for m in machines]
    batch += [
        {"machine_id": m, "timestamp": format_ts(start + i * 10), "power_kw": float(i)}
        for m in machines
        for i in range(10)
    ]
    posted = api.post("/api/readings", json=batch)
    assert posted.status_code == 201, posted.text
    assert posted.json()["accepted"] == len(batch)

    untimed = f"kept-u-{uuid.uuid4().hex[:6]}"
    refused = api.post(
        "/api/readings", json=[{"machine_id": untimed, "power_kw": float(i)} for i in range(5)]
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith(f"[1].timestamp: machine {untimed}")

    for m in machines:
        rows = _until_rows(influx, m, "power_kw", 11)
        assert len(rows) == 11, rows
    assert _rows(influx, untimed, "power_kw") == []


def test_a_machine_id_sent_as_a_whole_float_is_stored_as_that_integer(
    api: httpx.Client, influx: Any
) -> None:
    machine = random.randint(10**8, 10**9 - 1)
    ts = now_ms() - 30_000
    posted = api.post(
        "/api/readings",
        json={"machine_id": float(machine), "timestamp": format_ts(ts), "power_kw": 2.5},
    )
    assert posted.status_code == 201, posted.text
    [row] = _until_rows(influx, str(machine), "power_kw", 1)
    assert row["_value"] == 2.5
    assert datetime_ms(row["_time"]) == ts
    # Past 2**53 a float may not be the integer that was sent: refused, and nothing stored.
    refused = api.post("/api/readings", json={"machine_id": float(2**70), "power_kw": 2.5})
    assert refused.status_code == 422, refused.text
    assert "machine_id" in refused.json()["detail"]
    assert _rows(influx, str(2**70), "power_kw") == []
