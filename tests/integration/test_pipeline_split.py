"""Scaled out by role: one worker stores (alarms off), another evaluates alarms only
(storage and windows off, an app id of its own). Readings, alarm events and alarm rows all
arrive, once."""

from __future__ import annotations

import uuid

import pytest

from contracts.alarms import decode_alarm
from contracts.timefmt import now_ms
from tests.integration.test_pipeline_worker import (
    consume_until,
    poll_flux,
    produce,
    reading,
    running_worker,
)

pytestmark = pytest.mark.integration


def test_storage_and_alarms_in_workers_of_their_own(common_settings, service_env, influx, tmp_path):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"split-{uuid.uuid4().hex[:8]}"
    app_id = f"pl-{uuid.uuid4().hex[:6]}"
    t0 = now_ms() - 60_000
    temperatures = [70.0, 90.0, 91.0, 80.0]
    with (
        running_worker(
            service_env,
            app_id=app_id + "-store",
            tmp_path=tmp_path,
            MILLSTREAM_PIPELINE_ALARMS_ENABLED="false",
        ) as store,
        running_worker(
            service_env,
            app_id=app_id + "-alarm",
            tmp_path=tmp_path,
            MILLSTREAM_PIPELINE_STORAGE_ENABLED="false",
            MILLSTREAM_PIPELINE_WINDOWS_ENABLED="false",
        ) as alarm,
    ):
        produce(
            bootstrap,
            topics.readings,
            [reading(machine, t0 + i * 1000, v) for i, v in enumerate(temperatures)],
        )
        alarm_id = f"{machine}:temperature_c:high"

        def events(messages) -> list[tuple[str, float]]:
            decoded = [decode_alarm(m.value) for m in messages if m.key == alarm_id.encode()]
            return [(e.event, e.value) for e in decoded]

        seen = consume_until(
            bootstrap, topics.alarms, lambda ms: ("cleared", 80.0) in events(ms), proc=alarm
        )
        assert events(seen) == [("raised", 90.0), ("cleared", 80.0)]
        rows = poll_flux(
            influx,
            influx.bucket,
            f'r._measurement == "readings" and r.machine_id == "{machine}" '
            'and r._field == "temperature_c"',
            lambda rows: len(rows) >= len(temperatures),
            proc=store,
        )
        assert sorted(r["_value"] for r in rows) == sorted(temperatures)
        alarm_rows = poll_flux(
            influx,
            influx.alarms_bucket,
            f'r._measurement == "alarms" and r.machine_id == "{machine}" and r._field == "event"',
            lambda rows: len(rows) >= 2,
            proc=store,
        )
        assert sorted(r["_value"] for r in alarm_rows) == ["cleared", "raised"]
