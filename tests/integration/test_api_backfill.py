"""History through ``POST /api/readings``, the real worker and the real InfluxDB: the guide's
SCADA reading with its literal 2025 timestamp is kept and readable, a historian import of
25,000 rows in batches of 5,000 arrives whole, and a telemetry bucket with a retention
refuses, naming the setting, only what InfluxDB would drop."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from apiserver import ServerThread
from influxdb_client import InfluxDBClient
from pipelinetools import running_worker

from api.app import create_app
from api.settings import ApiSettings
from contracts.settings import CommonSettings
from contracts.timefmt import format_ts

pytestmark = pytest.mark.integration
logger = logging.getLogger(__name__)

DEADLINE_S = 120.0
# The guide's SCADA reading, as its script sends it (registers 40001-40003 read).
SEED_READING = {
    "machine_id": 42,
    "timestamp": "2025-12-20T14:30:00Z",
    "temperature_c": 67.5,
    "pressure_bar": 4.8,
    "vibration_mm_s": 3.2,
}
# The CLI's import test (test_cli_import_query.py) sends 100,000 rows end to end; here the
# API's own batches are proven whole.
IMPORT_ROWS = 25_000
# What a historian import sends per request (the API takes up to max_batch_readings).
IMPORT_BATCH = 5_000


@pytest.fixture
def stack(
    common_settings: CommonSettings, service_env: dict[str, str], tmp_path: Path, admin_key: str
) -> Iterator[httpx.Client]:
    """The API and one worker on the test's topics; an admin client of the API."""
    settings = ApiSettings(**common_settings.model_dump(), admin_api_key=admin_key)
    with (
        running_worker(
            service_env,
            app_id=f"bf-{uuid.uuid4().hex[:6]}",
            tmp_path=tmp_path,
            MILLSTREAM_PIPELINE_ALARM_COMM_LOSS_AFTER_S="0",
        ),
        ServerThread(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=60) as http,
    ):
        yield http


def _until(what: str, check: object) -> object:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got = check()  # type: ignore[operator]
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not reached"
        time.sleep(0.5)


def test_seed_scada_reading_with_its_2025_timestamp_is_kept_and_readable(
    stack: httpx.Client,
) -> None:
    posted = stack.post("/api/readings", json=SEED_READING)
    assert posted.status_code == 201, posted.text
    assert posted.json()["readings"] == [{"machine_id": 42, "ts": "2025-12-20T14:30:00.000Z"}]
    params = {"start": "2025-12-20T00:00:00Z", "stop": "2025-12-21T00:00:00Z"}

    def seed_point() -> list[dict[str, object]]:
        points = stack.get("/api/machines/42/readings", params=params).json()["points"]
        return [p for p in points if p["ts"] == "2025-12-20T14:30:00.000Z"]

    [point] = _until("the seed's reading in InfluxDB", seed_point)  # type: ignore[misc]
    assert point["temperature_c"] == 67.5
    assert point["pressure_bar"] == 4.8
    assert point["vibration_mm_s"] == 3.2


def _count(influx: object, machine: str) -> int:
    query = (
        f'from(bucket: "{influx.bucket}") '  # type: ignore[attr-defined]
        "|> range(start: 2025-01-01T00:00:00Z, stop: 2026-01-01T00:00:00Z) "
        f'|> filter(fn: (r) => r.machine_id == "{machine}" and r._field == "temperature_c") '
        "|> count()"
    )
    with InfluxDBClient(
        url=influx.url,  # type: ignore[attr-defined]
        token=influx.token,  # type: ignore[attr-defined]
        org=influx.org,  # type: ignore[attr-defined]
    ) as client:
        tables = client.query_api().query(query)
    return sum(int(r.get_value()) for t in tables for r in t.records)


def test_historian_import_in_batches_of_5000_is_stored_whole(
    stack: httpx.Client, influx: object
) -> None:
    machine = f"hist-{uuid.uuid4().hex[:8]}"
    start_ms = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)
    rows = [
        {
            "machine_id": machine,
            "timestamp": format_ts(start_ms + i * 1000),
            "temperature_c": 60.0 + i % 20,  # under the 85 °C alarm limit
            "vibration_mm_s": 3.0,
            "power_kw": 12.5,
        }
        for i in range(IMPORT_ROWS)
    ]
    began = time.monotonic()
    for at in range(0, IMPORT_ROWS, IMPORT_BATCH):
        posted = stack.post("/api/readings", json=rows[at : at + IMPORT_BATCH])
        assert posted.status_code == 201, posted.text[:500]
        assert posted.json()["accepted"] == IMPORT_BATCH
    posted_s = time.monotonic() - began
    _until("every imported row in InfluxDB", lambda: _count(influx, machine) == IMPORT_ROWS)
    stored_s = time.monotonic() - began
    logger.warning(
        "import rows=%d batch=%d posted in %.1f s (%.0f rows/s), stored in %.1f s (%.0f rows/s)",
        IMPORT_ROWS,
        IMPORT_BATCH,
        posted_s,
        IMPORT_ROWS / posted_s,
        stored_s,
        IMPORT_ROWS / stored_s,
    )
    assert _count(influx, machine) == IMPORT_ROWS


def test_a_telemetry_retention_refuses_only_older_readings_naming_the_setting(
    common_settings: CommonSettings, admin_key: str
) -> None:
    settings = ApiSettings(
        **{**common_settings.model_dump(), "influx_retention_days": 30}, admin_api_key=admin_key
    )
    with (
        ServerThread(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=30) as http,
    ):
        refused = http.post("/api/readings", json=SEED_READING)
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert detail.startswith("timestamp: ")
        assert "MILLSTREAM_INFLUX_RETENTION_DAYS" in detail
        recent = {**SEED_READING, "timestamp": format_ts(int(time.time() * 1000) - 86_400_000)}
        assert http.post("/api/readings", json=recent).status_code == 201
