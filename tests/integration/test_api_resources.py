"""Thresholds, alarms and commands over real HTTP against a real Kafka broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from apiserver import end_offsets, records_since
from fastapi import FastAPI

from api.settings import ApiSettings
from contracts.alarm_actions import decode_alarm_action
from contracts.alarm_state import AlarmStateRecord
from contracts.commands import CommandResult, decode_command
from contracts.machines import MachineInfo
from contracts.thresholds import decode_thresholds
from contracts.timefmt import now_ms
from kafka_edge.aio_clients import aio_producer
from kafka_edge.connection import KafkaConnection, ProducerSettings

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(
        partitions=2,
        kafka_produce_timeout_s=5.0,
    )


@pytest.fixture
def http_headers(admin_headers: dict[str, str]) -> dict[str, str]:
    return admin_headers


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = aio_producer(KafkaConnection.plain(bootstrap), ProducerSettings())
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def _poll(
    http: httpx.AsyncClient, url: str, done: Callable[[httpx.Response], bool]
) -> httpx.Response:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        response = await http.get(url)
        if done(response) or time.monotonic() >= deadline:
            return response
        await asyncio.sleep(0.1)


# --- thresholds ------------------------------------------------------------------------


async def test_thresholds_show_the_default_until_a_patch_of_one_limit(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    bootstrap, topic = api_settings.kafka_bootstrap_servers, api_settings.topics.thresholds
    before = await http.get("/api/machines/42/thresholds")
    assert before.status_code == 200, before.text
    [default] = [s for s in before.json()["sensors"] if s["sensor"] == "temperature_c"]
    assert default["source"] == "default"
    assert default["limits"]["high"]["value"] == 85.0
    assert default["machine_id"] == 42
    since = await end_offsets(bootstrap, topic)

    patched = await http.patch(
        "/api/machines/42/thresholds/temperature_c", json={"limits": {"high": {"value": 90}}}
    )

    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["source"] == "machine"
    assert body["limits"]["high"] == {**default["limits"]["high"], "value": 90.0}
    assert body["updated_by"].startswith("key:")
    [(key, value)] = await records_since(bootstrap, since, count=1)
    assert key == b"42/temperature_c"
    assert value is not None
    record = decode_thresholds(value)
    assert record.machine_id == "42" and record.limits["high"].value == 90.0
    # read your own write, and other machines still see the default
    mine = await http.get("/api/machines/42/thresholds/temperature_c")
    assert mine.json()["limits"]["high"]["value"] == 90.0
    other = await http.get("/api/machines/43/thresholds/temperature_c")
    assert other.json()["source"] == "default"

    deleted = await http.delete("/api/machines/42/thresholds/temperature_c")
    assert deleted.status_code == 204
    back = await http.get("/api/machines/42/thresholds/temperature_c")
    assert back.json()["source"] == "default"
    assert back.json()["limits"]["high"]["value"] == 85.0
    tombstones = await records_since(bootstrap, since, count=2)
    assert tombstones[-1] == (b"42/temperature_c", None)


async def test_thresholds_etag_gives_304_and_a_stale_if_match_412(
    http: httpx.AsyncClient,
) -> None:
    url = "/api/machines/m-etag/thresholds/temperature_c"
    first = await http.get(url)
    tag = first.headers["ETag"]
    not_modified = await http.get(url, headers={"If-None-Match": tag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""

    ok = await http.patch(url, json={"limits": {"high": {"value": 80}}}, headers={"If-Match": tag})
    assert ok.status_code == 200, ok.text
    assert ok.headers["ETag"] == (await http.get(url)).headers["ETag"] != tag
    stale = await http.patch(
        url, json={"limits": {"high": {"value": 70}}}, headers={"If-Match": tag}
    )
    assert stale.status_code == 412
    assert "If-Match" in stale.json()["detail"]
    assert (await http.get(url)).json()["limits"]["high"]["value"] == 80.0
    changed = await http.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


async def test_thresholds_put_for_a_machine_and_bad_input_named(
    http: httpx.AsyncClient,
) -> None:
    put = await http.put(
        "/api/machines/7/thresholds",
        json={
            "sensors": {
                "vibration_mm_s": {"limits": {"high_high": {"value": 12, "severity": "critical"}}}
            }
        },
    )
    assert put.status_code == 200, put.text
    sensors = {s["sensor"]: s for s in put.json()["sensors"]}
    assert sensors["vibration_mm_s"]["source"] == "machine"
    assert sensors["temperature_c"]["source"] == "default"

    inverted = await http.patch(
        "/api/machines/7/thresholds/temperature_c", json={"limits": {"low": {"value": 100}}}
    )
    assert inverted.status_code == 422
    assert "limits" in inverted.json()["detail"]
    unknown = await http.patch(
        "/api/machines/7/thresholds/temperature_c", json={"limits": {"high": {"valu": 1}}}
    )
    assert unknown.status_code == 422
    assert "valu" in unknown.json()["detail"]
    newline = await http.get("/api/machines/7%0A/thresholds")
    assert newline.status_code == 422
    assert "machine_id" in newline.json()["detail"]
    bad_sensor = await http.get("/api/machines/7/thresholds/temperature_c%0A")
    assert bad_sensor.status_code == 422
    missing = await http.get("/api/machines/7/thresholds/no_such_sensor")
    assert missing.status_code == 404


# --- alarms ----------------------------------------------------------------------------


def _state(machine: str, sensor: str, rule: str, **kw: object) -> AlarmStateRecord:
    fields: dict[str, object] = {
        "alarm_id": f"{machine}:{sensor}:{rule}",
        "machine_id": machine,
        "sensor": sensor,
        "rule": rule,
        "plant": "north",
        "severity": "high",
        "state": "active_unacknowledged",
        "active": True,
        "value": 91.0,
        "threshold": 85.0,
        "raised_ts_ms": now_ms(),
        "updated_ts_ms": now_ms(),
    }
    fields.update(kw)
    return AlarmStateRecord.model_validate(fields)


async def test_alarms_listed_and_filtered_from_the_alarm_state_topic(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    records = [
        _state("a1", "temperature_c", "high"),
        _state("a1", "vibration_mm_s", "high_high", severity="critical"),
        _state("a2", "temperature_c", "high", plant="south"),
        _state("a3", "temperature_c", "high", state="normal", active=False),
    ]
    await _produce(
        api_settings.kafka_bootstrap_servers,
        api_settings.topics.alarm_state,
        [(r.key(), r.encode()) for r in records],
    )

    everything = await _poll(http, "/api/alarms", lambda r: len(r.json()) >= 4)
    assert {a["alarm_id"] for a in everything.json()} >= {r.alarm_id for r in records}
    north = await http.get(
        "/api/alarms", params={"plant": "north", "state": "active_unacknowledged"}
    )
    assert {a["alarm_id"] for a in north.json()} == {
        "a1:temperature_c:high",
        "a1:vibration_mm_s:high_high",
    }
    critical = await http.get("/api/alarms", params={"severity": "critical"})
    assert [a["alarm_id"] for a in critical.json()] == ["a1:vibration_mm_s:high_high"]
    machine = await http.get("/api/machines/a3/alarms")
    assert [a["state"] for a in machine.json()] == ["normal"]
    by_machine = await http.get("/api/alarms", params={"machine_id": "a2"})
    assert [a["plant"] for a in by_machine.json()] == ["south"]
    bad = await http.get("/api/alarms", params={"state": "on_fire"})
    assert bad.status_code == 422
    assert "state" in bad.json()["detail"]
    one = await http.get("/api/alarms/a1:temperature_c:high")
    assert one.status_code == 200 and one.json()["value"] == 91.0
    assert (await http.get("/api/alarms/a9:temperature_c:high")).status_code == 404


async def test_acknowledge_shelve_and_log_produce_alarm_actions(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    bootstrap = api_settings.kafka_bootstrap_servers
    record = _state("b1", "temperature_c", "high")
    await _produce(bootstrap, api_settings.topics.alarm_state, [(record.key(), record.encode())])
    await _poll(http, f"/api/alarms/{record.alarm_id}", lambda r: r.status_code == 200)
    since = await end_offsets(bootstrap, api_settings.topics.alarm_actions)

    ack = await http.post(f"/api/alarms/{record.alarm_id}/acknowledge", json={"comment": "seen"})
    assert ack.status_code == 202, ack.text
    assert ack.json()["alarm_id"] == record.alarm_id
    no_comment = await http.post(f"/api/alarms/{record.alarm_id}/shelve", json={"duration_s": 60})
    assert no_comment.status_code == 422
    assert "comment" in no_comment.json()["detail"]
    shelve = await http.post(
        f"/api/alarms/{record.alarm_id}/shelve",
        json={"duration_s": 600, "comment": "sensor being replaced"},
    )
    assert shelve.status_code == 202, shelve.text
    logged = await http.post(
        "/api/alarms",
        json={"machine_id": "b1", "sensor": "coolant_level", "message": "leak seen at the pump"},
    )
    assert logged.status_code == 202, logged.text
    assert logged.json()["alarm_id"] == "b1:coolant_level:manual"
    unknown = await http.post("/api/alarms/zz:temperature_c:high/acknowledge")
    assert unknown.status_code == 404

    found = await records_since(bootstrap, since, count=3)
    actions = [decode_alarm_action(v) for _, v in found if v is not None]
    assert [a.action for a in actions] == ["acknowledge", "shelve", "log"]
    assert all(k == b"b1" for k, _ in found)
    assert actions[0].comment == "seen" and actions[0].rule == "high"
    assert actions[1].shelve_until_ts_ms is not None
    assert 590_000 <= actions[1].shelve_until_ts_ms - actions[1].ts_ms <= 610_000
    assert actions[1].comment == "sensor being replaced"
    assert actions[2].rule == "manual" and actions[2].message == "leak seen at the pump"


async def test_a_machine_id_has_one_form_in_every_answer(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    """``42`` is a number everywhere (as in the seed); ``0042`` is another machine and is
    shown as the string ``"0042"`` everywhere, never as ``42``."""
    records = [_state("42", "temperature_c", "high"), _state("0042", "temperature_c", "high")]
    await _produce(
        api_settings.kafka_bootstrap_servers,
        api_settings.topics.alarm_state,
        [(r.key(), r.encode()) for r in records],
    )
    for raw, shown in (("42", 42), ("0042", "0042")):
        alarms = await _poll(
            http,
            "/api/alarms",
            lambda r, raw=raw: any(a["alarm_id"].startswith(f"{raw}:") for a in r.json()),
        )
        assert [a["machine_id"] for a in alarms.json() if a["alarm_id"].startswith(f"{raw}:")] == [
            shown
        ]
        one = await http.get(f"/api/alarms/{raw}:temperature_c:high")
        assert one.json()["machine_id"] == shown
        listed = await http.get(f"/api/machines/{raw}/alarms")
        assert [a["machine_id"] for a in listed.json()] == [shown]
        posted = await http.post("/api/readings", json={"machine_id": raw, "temperature_c": 1})
        assert posted.json()["readings"][0]["machine_id"] == shown
        sent = await http.post(f"/api/machines/{raw}/commands", json={"action": "stop"})
        assert sent.json()["machine_id"] == shown
        command = await http.get(sent.headers["Location"])
        assert command.json()["machine_id"] == shown
        thresholds = await http.get(f"/api/machines/{raw}/thresholds")
        assert thresholds.json()["machine_id"] == shown
        assert {s["machine_id"] for s in thresholds.json()["sensors"]} == {shown}
        sensor = await http.get(f"/api/machines/{raw}/thresholds/temperature_c")
        assert sensor.json()["machine_id"] == shown


# --- commands --------------------------------------------------------------------------


async def test_command_is_pending_until_its_result_arrives(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    bootstrap = api_settings.kafka_bootstrap_servers
    since = await end_offsets(bootstrap, api_settings.topics.commands)

    sent = await http.post(
        "/api/machines/42/commands",
        json={"action": "setpoint", "target": "spindle_rpm_setpoint", "value": 1200},
    )

    assert sent.status_code == 202, sent.text
    command_id = sent.json()["command_id"]
    assert sent.headers["Location"] == f"/api/machines/42/commands/{command_id}"
    [(key, value)] = await records_since(bootstrap, since, count=1)
    assert key == b"42" and value is not None
    command = decode_command(value)
    assert command.command_id == command_id and command.value == 1200.0
    url = f"/api/machines/42/commands/{command_id}"
    pending = await http.get(url)
    assert pending.json()["status"] == "pending" and pending.json()["result"] is None
    assert (await http.get(f"/api/machines/43/commands/{command_id}")).status_code == 404

    result = CommandResult(
        command_id=command_id,
        machine_id="42",
        status="succeeded",
        executed_by="modbus://127.0.0.1:5020",
        ts_ms=now_ms(),
    )
    await _produce(bootstrap, api_settings.topics.command_results, [(b"42", result.encode())])
    done = await _poll(http, url, lambda r: r.json()["status"] != "pending")
    assert done.json()["status"] == "succeeded"
    assert done.json()["result"]["executed_by"] == "modbus://127.0.0.1:5020"
    assert (await http.get(f"/api/commands/{command_id}")).json()["status"] == "succeeded"


async def test_command_bad_input_is_named(http: httpx.AsyncClient) -> None:
    no_target = await http.post("/api/machines/42/commands", json={"action": "setpoint"})
    assert no_target.status_code == 422
    assert "setpoint" in no_target.json()["detail"]
    unknown = await http.post("/api/machines/42/commands", json={"action": "explode"})
    assert unknown.status_code == 422
    assert "action" in unknown.json()["detail"]
    missing = await http.get("/api/machines/42/commands/nope")
    assert missing.status_code == 404


# --- machines --------------------------------------------------------------------------


async def test_machine_create_conflict_etag_and_stale_if_match(http: httpx.AsyncClient) -> None:
    body = {"machine_id": 501, "name": "CNC Lathe - Haas ST-20", "location": "Building A"}
    created = await http.post("/api/machines", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["machine_id"] == 501
    assert created.headers["Location"] == "/api/machines/501"
    again = await http.post("/api/machines", json=body)
    assert again.status_code == 409

    first = await http.get("/api/machines/501")
    assert first.json()["name"] == "CNC Lathe - Haas ST-20"
    tag = first.headers["ETag"]
    assert created.headers["ETag"] == tag  # a write answers with the new version's ETag
    assert (await http.get("/api/machines/501", headers={"If-None-Match": tag})).status_code == 304
    listed = await http.get("/api/machines")
    assert 501 in [m["machine_id"] for m in listed.json()] and "ETag" in listed.headers

    put = await http.put(
        "/api/machines/501", json={"name": "Lathe 2", "plant": "north"}, headers={"If-Match": tag}
    )
    assert put.status_code == 200, put.text
    assert put.json()["location"] == "" and put.json()["plant"] == "north"
    chained = await http.patch(
        "/api/machines/501", json={"line": "L0"}, headers={"If-Match": put.headers["ETag"]}
    )
    assert chained.status_code == 200, chained.text
    stale = await http.patch("/api/machines/501", json={"line": "L1"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert (await http.patch("/api/machines/404404", json={"line": "L1"})).status_code == 404
    bad = await http.post("/api/machines", json={"machine_id": "x\n", "name": "n"})
    assert bad.status_code == 422 and "machine_id" in bad.json()["detail"]


async def _republish(app: FastAPI, api_settings: ApiSettings, info: MachineInfo) -> None:
    """Produce ``info`` as a connector does at start-up, and wait until the API read it."""
    await _produce(
        api_settings.kafka_bootstrap_servers,
        api_settings.topics.machines,
        [(info.key(), info.encode())],
    )
    table = app.state.services.machines.table
    deadline = time.monotonic() + DEADLINE_S
    while table.connector_record(info.machine_id) != info:
        assert time.monotonic() < deadline, "connector record not read"
        await asyncio.sleep(0.05)


async def test_patched_location_and_delete_survive_a_connector_restart(
    app: FastAPI, http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    original = MachineInfo(machine_id="c1", name="press", location="bay 1", plant="north")
    await _republish(app, api_settings, original)
    assert (await http.get("/api/machines/c1")).json()["location"] == "bay 1"

    patched = await http.patch("/api/machines/c1", json={"location": "bay 9"})
    assert patched.status_code == 200
    shown = {k: patched.json()[k] for k in ("name", "plant", "line", "location")}
    assert shown == {"name": "press", "plant": "north", "line": "", "location": "bay 9"}
    restarted = original.model_copy(update={"name": "press v2"})
    await _republish(app, api_settings, restarted)
    after = (await http.get("/api/machines/c1")).json()
    assert after["location"] == "bay 9"
    assert after["name"] == "press v2"
    # null hands the field back to the connector
    back = await http.patch("/api/machines/c1", json={"location": None})
    assert back.json()["location"] == "bay 1"

    assert (await http.delete("/api/machines/c1")).status_code == 204
    assert (await http.get("/api/machines/c1")).status_code == 404
    await _republish(app, api_settings, original)
    assert (await http.get("/api/machines/c1")).status_code == 404
    assert "c1" not in [m["machine_id"] for m in (await http.get("/api/machines")).json()]
    recreated = await http.post("/api/machines", json={"machine_id": "c1", "name": "new press"})
    assert recreated.status_code == 201
    assert recreated.json()["name"] == "new press"


# --- hardening -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp", ["9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+14:00", "1677-09-21T00:00:00Z"]
)
async def test_reading_time_outside_influx_range_or_retention_is_422(
    http: httpx.AsyncClient, timestamp: str
) -> None:
    response = await http.post(
        "/api/readings", json={"machine_id": 42, "temperature_c": 1.0, "timestamp": timestamp}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("timestamp: ")


async def test_body_over_the_byte_limit_is_413(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    big = (
        b'{"machine_id": 42, "temperature_c": 1.0, "plant": "'
        + b"x" * (api_settings.max_body_bytes)
        + b'"}'
    )
    response = await http.post(
        "/api/readings", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    machine = await http.post("/api/machines", content=big)
    assert machine.status_code == 413
