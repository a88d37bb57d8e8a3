"""The alarm journal and the ISA-18.2 KPIs against alarm events written to the real
InfluxDB in the pipeline's own line protocol."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from apiserver import ServerThread
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from api.settings import ApiSettings
from contracts.alarms import AlarmEvent, AlarmEventKind, AlarmState
from contracts.timefmt import format_ts, now_ms
from pipeline.storage.line_protocol import alarm_line

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MIN = 60_000
DAY = 24 * 60 * MIN


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(partitions=1)


@pytest.fixture
def http_headers(admin_headers: dict[str, str]) -> dict[str, str]:
    return admin_headers


def _event(
    ts_ms: int,
    kind: AlarmEventKind,
    plant: str,
    machine: str = "42",
    *,
    rule: str = "high",
    by: str = "",
    comment: str = "",
) -> AlarmEvent:
    states: dict[str, AlarmState] = {
        "raised": "active_unacknowledged",
        "acknowledged": "active_acknowledged",
        "cleared": "normal",
    }
    return AlarmEvent(
        alarm_id=f"{machine}:temperature_c:{rule}",
        event=kind,
        state=states[kind],
        machine_id=machine,
        sensor="temperature_c",
        rule=rule,
        severity="critical" if rule == "high_high" else "high",
        value=86.0,
        threshold=85.0,
        ts_ms=ts_ms,
        message=f"temperature_c 86.0 above 85.0 on machine {machine}",
        plant=plant,
        line="3",
        by=by,
        comment=comment,
    )


async def _write(settings: ApiSettings, events: list[AlarmEvent]) -> None:
    async with InfluxDBClientAsync(
        url=settings.influx_url,
        token=settings.influx_token.get_secret_value(),
        org=settings.influx_org,
    ) as client:
        await client.write_api().write(
            bucket=settings.influx_alarms_bucket,
            record="\n".join(alarm_line(e) for e in events),
            write_precision="ms",
        )


def _history(plant: str, t0: int) -> list[AlarmEvent]:
    """Over two days from ``t0``: machine 42 chatters (12 raises 20 s apart: a flood
    window) and is acknowledged after 5 s each time; machine 7 raises once and stands
    for 30 hours, acknowledged after 10 minutes; machine 9 raises once, never acknowledged."""
    events: list[AlarmEvent] = []
    for i in range(12):
        ts = t0 + i * 20_000
        events += [
            _event(ts, "raised", plant),
            _event(ts + 5_000, "acknowledged", plant, by="user:ann", comment="seen"),
            _event(ts + 10_000, "cleared", plant),
        ]
    events += [
        _event(t0 + 60 * MIN, "raised", plant, "7", rule="high_high"),
        _event(t0 + 70 * MIN, "acknowledged", plant, "7", rule="high_high", by="user:bo"),
        _event(t0 + 60 * MIN + 30 * 60 * MIN, "cleared", plant, "7", rule="high_high"),
        _event(t0 + 120 * MIN, "raised", plant, "9"),
    ]
    return events


async def test_journal_filters_and_orders_newest_first(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    plant = f"p{uuid.uuid4().hex[:8]}"
    t0 = (now_ms() - 3 * DAY) // 600_000 * 600_000
    await _write(api_settings, _history(plant, t0))
    span = {"start": format_ts(t0 - MIN), "stop": format_ts(t0 + 2 * DAY), "plant": plant}

    everything = await http.get("/api/alarms/journal", params=span)
    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert len(body["events"]) == 40 and body["truncated"] is False
    times = [e["ts"] for e in body["events"]]
    assert times == sorted(times, reverse=True)
    acked = await http.get(
        "/api/alarms/journal",
        params={**span, "event": "acknowledged", "severity": "critical", "limit": 5},
    )
    [ack] = acked.json()["events"]
    assert ack == {
        "ts": format_ts(t0 + 70 * MIN),
        "alarm_id": "7:temperature_c:high_high",
        "machine_id": 7,
        "plant": plant,
        "line": "3",
        "sensor": "temperature_c",
        "rule": "high_high",
        "severity": "critical",
        "event": "acknowledged",
        "state": "active_acknowledged",
        "value": 86.0,
        "threshold": 85.0,
        "message": "temperature_c 86.0 above 85.0 on machine 7",
        "by": "user:bo",
        "comment": "",
    }
    limited = (await http.get("/api/alarms/journal", params={**span, "limit": 3})).json()
    assert len(limited["events"]) == 3 and limited["truncated"] is True
    one_machine = await http.get("/api/alarms/journal", params={**span, "machine_id": "9"})
    assert [e["event"] for e in one_machine.json()["events"]] == ["raised"]
    bad = await http.get("/api/alarms/journal", params={"event": "exploded"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("event: unknown value")


async def test_alarm_health_kpis_of_a_plant(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    plant = f"p{uuid.uuid4().hex[:8]}"
    t0 = (now_ms() - 3 * DAY) // 600_000 * 600_000
    await _write(api_settings, _history(plant, t0))
    response = await http.get(
        "/api/alarm-health",
        params={"start": format_ts(t0), "stop": format_ts(t0 + 2 * DAY), "plant": plant},
    )
    assert response.status_code == 200, response.text
    kpi = response.json()

    [rates] = kpi["plants"]
    assert rates["plant"] == plant and rates["raised"] == 14
    assert rates["per_10min_peak"] == 12 and rates["peak_at"] == format_ts(t0)
    assert rates["per_10min_avg"] == round(14 / 288, 3)  # 288 ten-minute windows in 2 days
    assert rates["flood_pct"] == round(100 / 288, 3)
    assert [(t["alarm_id"], t["count"]) for t in kpi["top"]] == [
        ("42:temperature_c:high", 12),
        ("7:temperature_c:high_high", 1),
        ("9:temperature_c:high", 1),
    ]
    [chatter] = kpi["chattering"]
    assert chatter["alarm_id"] == "42:temperature_c:high"
    assert (chatter["max_per_min"], chatter["episodes"]) == (3, 4)  # raises at 40 s .. 220 s
    # Machine 9's alarm was never cleared: 46 h active at the period's end; machine 7's 30 h.
    nine, seven = kpi["standing"]
    assert (nine["alarm_id"], nine["active_s"]) == ("9:temperature_c:high", 46 * 3600)
    assert (seven["alarm_id"], seven["active_s"]) == ("7:temperature_c:high_high", 30 * 3600)
    assert seven["raised_at"] == format_ts(t0 + 60 * MIN)
    assert nine["active_now"] is False  # the period ended a day ago
    acks = kpi["acknowledge"]
    assert (acks["count"], acks["unacknowledged"]) == (13, 1)
    assert acks["max_s"] == 600.0 and acks["median_s"] == 5.0


def test_integrators_console_examples_run_as_written(server: ServerThread, admin_key: str) -> None:
    """The curl block of docs/integrators.md for consoles, through bash, against this API."""
    doc = (ROOT / "docs" / "integrators.md").read_text()
    [block] = [b for b in re.findall(r"```sh\n(.*?)```", doc, flags=re.S) if "/backtest" in b]
    script = block.replace("http://127.0.0.1:8080", server.url)
    done = subprocess.run(
        ["bash", "-ec", script],
        env={**os.environ, "K": admin_key},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answers, decoder, rest = [], json.JSONDecoder(), done.stdout.strip()
    while rest:
        answer, end = decoder.raw_decode(rest)
        answers.append(answer)
        rest = rest[end:].strip()
    latest, backtest, journal, health = answers
    assert all("detail" not in a for a in answers), answers
    assert latest["plant"] == "north" and "machines" in latest
    assert backtest["sensor"] == "temperature_c" and "proposed" in backtest
    assert journal["limit"] == 100 and "events" in journal
    assert health["guideline"]["per_10min_target"] == [1, 2]
