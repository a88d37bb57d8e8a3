"""Maintenance schedules over real HTTP against a real Kafka broker: create, read, replace,
change, delete; engineers write and operators read; every request audited; the machine's
``last_maintenance`` follows the schedules."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from api.settings import ApiSettings
from contracts.audit import AuditRecord, decode_audit
from contracts.maintenance import decode_maintenance
from kafka_edge.aio_clients import aio_observer
from kafka_edge.connection import KafkaConnection

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(partitions=1, audit_flush_interval_s=0.2)


@pytest.fixture
def http_headers(admin_headers: dict[str, str]) -> dict[str, str]:
    return admin_headers


async def _key(http: httpx.AsyncClient, role: str) -> tuple[dict[str, str], str]:
    minted = await http.post("/api/keys", json={"name": f"maint-{role}", "role": role})
    assert minted.status_code == 201, minted.text
    return {"X-API-Key": minted.json()["secret"]}, f"key:{minted.json()['key_id']}"


async def _audit_of(bootstrap: str, topic: str, principal: str, count: int) -> list[AuditRecord]:
    consumer = aio_observer(KafkaConnection.plain(bootstrap), topic)
    await consumer.start()
    try:
        found: list[AuditRecord] = []
        deadline = time.monotonic() + DEADLINE_S
        while len(found) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                found += [
                    decode_audit(r.value)
                    for r in records
                    if r.key == principal.encode() and r.value
                ]
        return found
    finally:
        await consumer.stop()


async def _topic_values(bootstrap: str, topic: str) -> list[tuple[bytes, bytes | None]]:
    consumer = aio_observer(KafkaConnection.plain(bootstrap), topic)
    await consumer.start()
    try:
        found: list[tuple[bytes, bytes | None]] = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            found += [(r.key, r.value) for records in batches.values() for r in records]
        return found
    finally:
        await consumer.stop()


async def test_schedule_lifecycle_by_role_audited_and_404_once_deleted(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    created = await http.post("/api/machines", json={"machine_id": 77, "name": "press"})
    assert created.status_code == 201, created.text
    assert created.json()["last_maintenance"] is None
    engineer, engineer_principal = await _key(http, "engineer")
    operator, _ = await _key(http, "operator")
    base = "/api/machines/77/maintenance"
    body = {"task": "Change spindle oil", "due_date": "2026-01-15", "interval_days": 90}

    assert (await http.post(base, json=body, headers=operator)).status_code == 403
    posted = await http.post(base, json=body, headers=engineer)
    assert posted.status_code == 201, posted.text
    schedule = posted.json()
    one = f"{base}/{schedule['schedule_id']}"
    assert posted.headers["Location"] == one
    assert schedule["machine_id"] == 77 and schedule["next_due"] == "2026-01-15"
    assert schedule["done_at"] is None and schedule["updated_by"] == engineer_principal

    listed = await http.get(base, headers=operator)
    assert listed.status_code == 200 and listed.json() == [schedule]
    read = await http.get(one, headers=operator)
    assert read.json() == schedule
    assert (
        await http.get(one, headers={**operator, "If-None-Match": read.headers["ETag"]})
    ).status_code == 304
    assert (
        await http.patch(one, json={"done_at": "2025-12-15"}, headers=operator)
    ).status_code == 403

    done = await http.patch(
        one, json={"done_at": "2025-12-15"}, headers={**engineer, "If-Match": read.headers["ETag"]}
    )
    assert done.status_code == 200, done.text
    assert done.json()["done_by"] == "maint-engineer"  # the caller, when not named
    assert done.json()["next_due"] == "2026-03-15"
    stale = await http.patch(
        one, json={"done_by": "j.smith"}, headers={**engineer, "If-Match": read.headers["ETag"]}
    )
    assert stale.status_code == 412
    machine = await http.get("/api/machines/77", headers=operator)
    assert machine.json()["last_maintenance"] == "2025-12-15"

    # PUT takes what GET returned, read-only fields included
    replaced = await http.put(one, json={**done.json(), "task": "Grease ways"}, headers=engineer)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["task"] == "Grease ways" and replaced.json()["done_at"] == "2025-12-15"
    moved = await http.put(one, json={**body, "schedule_id": "other"}, headers=engineer)
    assert moved.status_code == 422 and "schedule_id" in moved.json()["detail"]

    assert (await http.delete(one, headers=operator)).status_code == 403
    assert (await http.delete(one, headers=engineer)).status_code == 204
    assert (await http.get(one, headers=operator)).status_code == 404
    assert (await http.delete(one, headers=engineer)).status_code == 404
    assert (await http.get(base, headers=operator)).json() == []
    assert (await http.get("/api/machines/77")).json()["last_maintenance"] is None

    audited = await _audit_of(
        api_settings.kafka_bootstrap_servers, api_settings.topics.audit, engineer_principal, 8
    )
    writes = {(r.method, r.path, r.status) for r in audited}
    assert ("POST", base, 201) in writes
    assert ("PATCH", one, 200) in writes and ("PATCH", one, 412) in writes
    assert ("PUT", one, 200) in writes and ("DELETE", one, 204) in writes


async def test_schedules_are_kept_on_the_compacted_topic(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    assert (await http.post("/api/machines", json={"machine_id": "m-1"})).status_code == 201
    body = {"task": "Replace filter", "due_date": "2026-02-01", "done_by": "a.b"}
    posted = await http.post("/api/machines/m-1/maintenance", json=body)
    assert posted.status_code == 201, posted.text
    schedule_id = posted.json()["schedule_id"]
    assert (await http.delete(f"/api/machines/m-1/maintenance/{schedule_id}")).status_code == 204

    records = await _topic_values(
        api_settings.kafka_bootstrap_servers, api_settings.topics.maintenance
    )
    mine = [(k, v) for k, v in records if k == f"m-1/{schedule_id}".encode()]
    assert len(mine) == 2
    kept = decode_maintenance(mine[0][1] or b"")
    assert (kept.task, kept.due_date.isoformat(), kept.done_by) == (
        "Replace filter",
        "2026-02-01",
        "a.b",
    )
    assert mine[1][1] is None  # the delete is a tombstone


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task": "x", "due_date": "15/01/2026"}, "due_date"),
        ({"task": "x", "due_date": 1765790000}, "due_date"),
        ({"task": "", "due_date": "2026-01-15"}, "task"),
        ({"task": "x", "due_date": "2026-01-15", "interval_days": 0}, "interval_days"),
        ({"task": "x", "due_date": "2026-01-15", "colour": "red"}, "colour"),
        ({"due_date": "2026-01-15"}, "task"),
    ],
)
async def test_bad_schedule_is_422_naming_the_field(
    http: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    await http.post("/api/machines", json={"machine_id": 78})
    response = await http.post("/api/machines/78/maintenance", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]


async def test_schedules_of_an_unknown_machine_are_404(http: httpx.AsyncClient) -> None:
    body = {"task": "x", "due_date": "2026-01-15"}
    assert (await http.get("/api/machines/404404/maintenance")).status_code == 404
    assert (await http.post("/api/machines/404404/maintenance", json=body)).status_code == 404
    await http.post("/api/machines", json={"machine_id": 79})
    missing = await http.patch("/api/machines/79/maintenance/nope", json={"task": "y"})
    assert missing.status_code == 404
    cleared = await http.post("/api/machines/79/maintenance", json=body)
    one = f"/api/machines/79/maintenance/{cleared.json()['schedule_id']}"
    refused = await http.patch(one, json={"task": None})
    assert refused.status_code == 422 and "task" in refused.json()["detail"]
