"""The API's thresholds, alarms and actions with the real pipeline worker on the real
broker: a threshold PATCHed over REST raises an alarm on the next reading posted over
REST; the acknowledgement and a hand-logged alarm posted over REST come back as alarm
states the API lists."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from apiserver import ServerThread
from pipelinetools import Producer, Tail, reading
from test_pipeline_alarms import events_of, first_raised_by_readings, readings_stored, worker

from api.app import create_app
from api.settings import ApiSettings
from contracts.settings import CommonSettings
from contracts.timefmt import now_ms

pytestmark = pytest.mark.integration

DEADLINE_S = 90.0


def _until(
    http: httpx.Client, url: str, ok: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        alarms: list[dict[str, Any]] = http.get(url).json()
        if ok(alarms):
            return alarms
        assert time.monotonic() < deadline, f"{url}: not reached, last {alarms}"
        time.sleep(0.2)


def test_rest_threshold_reading_ack_and_log_through_the_worker(
    common_settings: CommonSettings, service_env: dict[str, str], tmp_path: Path, admin_key: str
) -> None:
    machine = f"ap-{uuid.uuid4().hex[:8]}"
    alarm = f"{machine}:temperature_c:high"
    settings = ApiSettings(**common_settings.model_dump(), admin_api_key=admin_key)
    with (
        worker(service_env, app_id=f"ap-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path),
        ServerThread(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=30) as http,
    ):
        patched = http.patch(
            f"/api/machines/{machine}/thresholds/temperature_c",
            json={"limits": {"high": {"value": 70, "deadband": 1}}},
        )
        assert patched.status_code == 200, patched.text
        url = f"/api/machines/{machine}/alarms"
        # 75 °C is under the default 85 but over this machine's 70: only the PATCH raises it.
        # The worker may still be starting: post until it has seen one.
        deadline = time.monotonic() + DEADLINE_S
        while not http.get(url).json():
            posted = http.post("/api/readings", json={"machine_id": machine, "temperature_c": 75})
            assert posted.status_code == 201, posted.text
            assert time.monotonic() < deadline, "no alarm raised"
            time.sleep(1.0)
        [raised] = _until(http, url, lambda a: len(a) == 1)
        assert raised["alarm_id"] == alarm
        assert raised["state"] == "active_unacknowledged"
        assert raised["threshold"] == 70.0

        ack = http.post(f"/api/alarms/{alarm}/acknowledge", json={"comment": "seen"})
        assert ack.status_code == 202, ack.text
        [acked] = _until(http, url, lambda a: a[0]["state"] == "active_acknowledged")
        assert acked["acknowledged_by"] == "key:bootstrap-admin"

        logged = http.post(
            "/api/alarms",
            json={"machine_id": machine, "sensor": "coolant_level", "message": "leak at the pump"},
        )
        assert logged.status_code == 202, logged.text
        manual = _until(
            http, url, lambda a: any(x["alarm_id"] == logged.json()["alarm_id"] for x in a)
        )
        [entry] = [x for x in manual if x["rule"] == "manual"]
        assert entry["state"] == "active_unacknowledged"
        assert entry["message"] == "leak at the pump"


def test_a_threshold_patched_over_rest_is_applied_within_one_second(
    common_settings: CommonSettings,
    service_env: dict[str, str],
    tmp_path: Path,
    admin_key: str,
    influx: Any,
) -> None:
    """The 1 s bound, measured from the PATCH's answer to the reading time of the first
    reading judged by the new rule (a reading every 50 ms)."""
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"ap1s-{uuid.uuid4().hex[:8]}"
    alarm = f"{machine}:temperature_c:high"
    settings = ApiSettings(**common_settings.model_dump(), admin_api_key=admin_key)
    producer = Producer(bootstrap)
    with (
        worker(service_env, app_id=f"ap1s-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path) as proc,
        ServerThread(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"X-API-Key": admin_key}, timeout=30) as http,
    ):
        alarms = Tail(bootstrap, topics.alarms, proc)
        try:
            # 80 °C is fine under the default rule; wait until the worker has judged it.
            producer.send(topics.readings, [reading(machine, now_ms(), 80.0)])
            readings_stored(influx, [machine], deadline_s=DEADLINE_S, expected=1)
            assert events_of(alarms.messages, alarm) == []
            patched = http.patch(
                f"/api/machines/{machine}/thresholds/temperature_c",
                json={"limits": {"high": {"value": 75, "deadband": 1}}},
            )
            patched_ms = now_ms()
            assert patched.status_code == 200, patched.text
            raised = first_raised_by_readings(
                producer, alarms, topics.readings, machine, alarm, 80.0
            )
            seen_ms = now_ms()
        finally:
            alarms.close()
            producer.close()
    applied_ms = raised.ts_ms - patched_ms
    sys.stderr.write(
        f"REST threshold applied within {applied_ms} ms (reading time); "
        f"raised event seen {seen_ms - patched_ms} ms after the PATCH answered\n"
    )
    assert (raised.event, raised.threshold) == ("raised", 75.0)
    assert applied_ms < 1000
    assert seen_ms - patched_ms < 1000
