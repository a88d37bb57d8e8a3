"""The threshold backtest against the real worker: the history a worker judged (its readings
in InfluxDB, its alarms in the alarms bucket) is replayed by the API; the rule in force
gives exactly the worker's count, and a lowered threshold gives more."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime, timedelta
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

pytestmark = pytest.mark.integration

DEADLINE_S = 90.0
SECONDS = 900


def _history(machine: str, start: datetime) -> list[dict[str, Any]]:
    """A temperature swinging 70-90 every 100 s, with a 2 s spike to 88 in each cool half
    (the guide's flat reading shape, one per second)."""
    out = []
    for s in range(SECONDS):
        value = 80.0 + 10.0 * math.sin(2 * math.pi * s / 100)
        if s % 100 in (75, 76):
            value = 88.0
        moment = start + timedelta(seconds=s)
        out.append(
            {
                "machine_id": machine,
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "temperature_c": round(value, 3),
                "power_kw": 3.0,
            }
        )
    return out


def _scalar(client: InfluxDBClient, flux: str) -> int:
    tables = client.query_api().query(flux)
    return sum(int(record.get_value()) for table in tables for record in table.records)


def _until_equal(get: Any, want: int, what: str) -> int:
    deadline = time.monotonic() + DEADLINE_S
    while (got := get()) != want:
        assert time.monotonic() < deadline, f"{what}: {got}, want {want}"
        time.sleep(0.5)
    return int(got)


def test_backtest_matches_the_worker_and_a_lowered_threshold_raises_more(
    common_settings: CommonSettings,
    service_env: dict[str, str],
    tmp_path: Path,
    admin_key: str,
) -> None:
    s = common_settings
    machine = f"bt-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=SECONDS + 120)
    settings = ApiSettings(**s.model_dump(), admin_api_key=admin_key)
    window = {"start": (start - timedelta(seconds=1)).isoformat(), "stop": "now"}
    by_flux = f"|> range(start: {(start - timedelta(seconds=1)).strftime('%Y-%m-%dT%H:%M:%SZ')})"
    with (
        worker(service_env, app_id=f"bt-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path),
        ServerThread(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=60) as http,
        InfluxDBClient(
            url=s.influx_url, token=s.influx_token.get_secret_value(), org=s.influx_org
        ) as influx,
    ):
        posted = http.post("/api/readings", json=_history(machine, start))
        assert posted.status_code == 201, posted.text

        stored = (
            f'from(bucket: "{s.influx_bucket}") {by_flux}'
            f' |> filter(fn: (r) => r._measurement == "readings" and r.machine_id == "{machine}"'
            ' and r._field == "temperature_c") |> count()'
        )
        _until_equal(lambda: _scalar(influx, stored), SECONDS, "readings stored")

        lowered = http.post(
            f"/api/machines/{machine}/thresholds/temperature_c/backtest",
            json={"rule": {"limits": {"high": {"value": 75, "deadband": 1}}}, **window},
        )
        assert lowered.status_code == 200, lowered.text
        answer = lowered.json()
        assert answer["readings"] == SECONDS
        assert answer["in_force_source"] == "default"
        assert answer["in_force_rule"]["limits"]["high"]["value"] == 85.0
        in_force, proposed = answer["in_force"]["raised"], answer["proposed"]["raised"]
        # 9 cycles: each crosses 85 once and spikes to 88 once.
        assert in_force == 18
        assert proposed > in_force
        assert answer["proposed"]["by_rule"] == {"high": proposed}
        assert len(answer["proposed"]["raised_at"]) == proposed

        raised_by_worker = (
            f'from(bucket: "{s.influx_alarms_bucket}") {by_flux}'
            f' |> filter(fn: (r) => r._measurement == "alarms" and r.machine_id == "{machine}"'
            ' and r.sensor == "temperature_c" and r._field == "event" and r._value == "raised")'
            " |> count()"
        )
        _until_equal(
            lambda: _scalar(influx, raised_by_worker), in_force, "alarms the worker raised"
        )

    # More readings than a backtest replays are refused before they are fetched.
    fewer = settings.model_copy(update={"api_backtest_max_readings": SECONDS - 1})
    with (
        ServerThread(create_app(fewer)) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=60) as http,
    ):
        refused = http.post(
            f"/api/machines/{machine}/thresholds/temperature_c/backtest",
            json={"rule": {}, **window},
        )
        assert refused.status_code == 422
        assert refused.json()["detail"] == (
            f"start: the range holds {SECONDS} readings of temperature_c, more than "
            f"{SECONDS - 1}; choose a shorter range"
        )


def test_backtest_refuses_a_bad_rule_and_range(
    common_settings: CommonSettings, admin_key: str
) -> None:
    settings = ApiSettings(**common_settings.model_dump(), admin_api_key=admin_key)
    with (
        ServerThread(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=30) as http,
    ):
        url = "/api/machines/42/thresholds/temperature_c/backtest"
        unordered = http.post(
            url,
            json={"rule": {"limits": {"high": {"value": 70}, "high_high": {"value": 60}}}},
        )
        assert unordered.status_code == 422
        assert unordered.json()["detail"].startswith("rule: ")
        assert "high_high (60.0) must not be below high (70.0)" in unordered.json()["detail"]
        too_long = http.post(url, json={"rule": {}, "start": "-40d"})
        assert too_long.status_code == 422
        assert too_long.json()["detail"] == "start: the range may span at most 31 days"
        backwards = http.post(url, json={"rule": {}, "start": "-1h", "stop": "-2h"})
        assert backwards.json()["detail"] == "start: must be before stop"
        unknown = http.post(url, json={"rule": {"limits": {"higher": {"value": 1}}}})
        assert unknown.status_code == 422 and "higher" in unknown.json()["detail"]
