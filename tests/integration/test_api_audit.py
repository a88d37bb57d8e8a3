"""Audit: every request becomes a record on the audit topic and, written by the pipeline
worker (the one writer of audit points), a point in InfluxDB, readable with
``GET /api/audit``; no record carries a secret."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import websockets
from apiserver import ServerThread
from pipelinetools import running_worker

from api.settings import ApiSettings
from contracts.audit import decode_audit
from kafka_edge.aio_clients import aio_observer
from kafka_edge.connection import KafkaConnection

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(
        partitions=1,
        jwt_secret="a" + secrets.token_hex(24),
        audit_flush_interval_s=0.2,
    )


@pytest.fixture(scope="module", autouse=True)
def audit_writer(
    api_settings: ApiSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen]:
    """The pipeline worker on the module's topics, storing only (alarms and windows off)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    shared = ("kafka_bootstrap_servers", "topic_prefix", "influx_url", "influx_org")
    env |= {f"MILLSTREAM_{name.upper()}": getattr(api_settings, name) for name in shared}
    env |= {
        "MILLSTREAM_INFLUX_TOKEN": api_settings.influx_token.get_secret_value(),
        "MILLSTREAM_INFLUX_AUDIT_BUCKET": api_settings.influx_audit_bucket,
        "MILLSTREAM_PIPELINE_ALARMS_ENABLED": "false",
        "MILLSTREAM_PIPELINE_WINDOWS_ENABLED": "false",
    }
    with running_worker(
        env, app_id=f"audit-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path_factory.mktemp("audit")
    ) as proc:
        yield proc


async def _audit_until(
    http: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str], count: int
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE_S
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = await http.get("/api/audit", headers=admin, params=params)
        assert response.status_code == 200, response.text
        rows = response.json()
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.3)
    raise AssertionError(f"only {len(rows)} of {count} audit rows for {params} in time")


async def _topic_records(bootstrap: str, topic: str, *, principal: str, count: int) -> list[bytes]:
    consumer = aio_observer(KafkaConnection.plain(bootstrap), topic)
    await consumer.start()
    try:
        found: list[bytes] = []
        deadline = time.monotonic() + DEADLINE_S
        while len(found) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                found += [r.value for r in records if r.key == principal.encode() and r.value]
        return found
    finally:
        await consumer.stop()


async def test_every_request_is_audited_without_secrets(
    http: httpx.AsyncClient, server: ServerThread, api_settings: ApiSettings, admin_key: str
) -> None:
    admin = {"X-API-Key": admin_key}
    minted = await http.post(
        "/api/keys", headers=admin, json={"name": "audited", "role": "operator"}
    )
    secret, key_id = minted.json()["secret"], minted.json()["key_id"]
    who = f"key:{key_id}"
    key = {"X-API-Key": secret}

    assert (await http.get("/api/machines", headers=key)).status_code == 200
    assert (await http.get(f"/api/machines?token={secret}&x=1", headers=key)).status_code == 200
    assert (await http.get("/api/machines/123456", headers=key)).status_code == 404
    assert (
        await http.post("/api/readings", headers=key, json={"machine_id": 1})
    ).status_code == 403
    async with websockets.connect(f"{server.ws_url}/live?api_key={secret}") as ws:
        await ws.send(orjson.dumps({"action": "subscribe", "machine_id": 1}).decode())
        await asyncio.sleep(0.2)

    rows = await _audit_until(http, admin, {"who": who, "start": "-5m"}, 5)

    assert {(r["method"], r["path"], r["status"]) for r in rows} == {
        ("GET", "/api/machines", 200),
        ("GET", "/api/machines/123456", 404),
        ("POST", "/api/readings", 403),
        ("WS", "/live", 101),
    }
    assert len([r for r in rows if r["path"] == "/api/machines"]) == 2
    for row in rows:
        assert row["principal"] == who
        assert row["role"] == "operator"
        assert row["client"] == "127.0.0.1"
        assert row["latency_ms"] >= 0
        assert len(row["request_id"]) == 16
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True)

    forbidden = await _audit_until(http, admin, {"who": who, "status": "403", "start": "-5m"}, 1)
    assert [r["path"] for r in forbidden] == ["/api/readings"]
    by_path = await _audit_until(
        http, admin, {"who": who, "path": "/api/machines/123456", "start": "-5m"}, 1
    )
    assert len(by_path) == 1
    later = await http.get(
        "/api/audit", headers=admin, params={"who": who, "start": "-5m", "stop": "-4m"}
    )
    assert later.json() == []

    on_topic = await _topic_records(
        api_settings.kafka_bootstrap_servers, api_settings.topics.audit, principal=who, count=5
    )
    assert sorted(decode_audit(v).path for v in on_topic) == sorted(r["path"] for r in rows)
    everything = (await http.get("/api/audit", headers=admin, params={"start": "-5m"})).text
    for text in [everything, *(v.decode() for v in on_topic)]:
        assert secret not in text
        assert admin_key not in text


async def test_anonymous_and_failed_requests_are_audited(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    marker = "/api/no-such-" + secrets.token_hex(4)
    assert (await http.get(marker)).status_code == 404
    wrong = await http.get("/api/machines", headers={"X-API-Key": "msk_" + secrets.token_hex(8)})
    assert wrong.status_code == 401

    rows = await _audit_until(
        http, {"X-API-Key": admin_key}, {"who": "anonymous", "path": marker, "start": "-5m"}, 1
    )

    assert rows[0]["status"] == 404
    assert rows[0]["role"] == ""
    refused = await _audit_until(
        http,
        {"X-API-Key": admin_key},
        {"who": "anonymous", "path": "/api/machines", "status": "401", "start": "-5m"},
        1,
    )
    assert refused[0]["method"] == "GET"


async def test_audit_is_admin_only_and_checks_its_filters(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    admin = {"X-API-Key": admin_key}
    operator = await http.post("/api/keys", headers=admin, json={"name": "op", "role": "operator"})

    denied = await http.get("/api/audit", headers={"X-API-Key": operator.json()["secret"]})
    backwards = await http.get("/api/audit", headers=admin, params={"start": "-1m", "stop": "-2m"})
    bad_status = await http.get("/api/audit", headers=admin, params={"status": "99"})
    bad_time = await http.get("/api/audit", headers=admin, params={"start": "yesterday"})
    nuls = [
        await http.get("/api/audit", headers=admin, params={name: "a\x00b"})
        for name in ("who", "path", "path_prefix")
    ]

    assert denied.status_code == 403
    assert backwards.status_code == 422
    assert bad_status.status_code == 422
    assert bad_time.status_code == 422
    assert bad_time.json()["detail"].startswith("start: ")
    for name, nul in zip(("who", "path", "path_prefix"), nuls, strict=True):
        assert nul.status_code == 422, nul.text
        assert name in nul.json()["detail"]
