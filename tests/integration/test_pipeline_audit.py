"""The worker's audit sink against the real broker and InfluxDB."""

from __future__ import annotations

import uuid

import orjson
import pytest
from pipelinetools import consume_until, poll_flux, produce, running_worker

from contracts.audit import AuditRecord
from contracts.influx_schema import audit_time_ns
from contracts.timefmt import now_ms

pytestmark = pytest.mark.integration


def test_audit_records_become_ns_points_and_a_bad_one_is_dead_lettered(
    common_settings, service_env, influx, tmp_path
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    principal = f"key:{uuid.uuid4().hex[:8]}"
    ts = now_ms() - 10_000
    # Two requests in the same millisecond stay two points.
    records = [
        AuditRecord(
            request_id=f"req-{i}",
            ts_ms=ts,
            principal=principal,
            role="operator",
            method="GET",
            path="/api/machines",
            status=200,
            latency_ms=1.25 + i,
            client="127.0.0.1",
        )
        for i in range(2)
    ]
    bad = orjson.dumps({**records[0].to_dict(), "status": "ok"})
    with running_worker(
        service_env, app_id=f"pl-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path
    ) as proc:
        produce(
            bootstrap,
            topics.audit,
            [(r.key(), r.encode()) for r in records] + [(principal.encode(), bad)],
        )
        rows = poll_flux(
            influx,
            influx.audit_bucket,
            f'r._measurement == "audit" and r.principal == "{principal}" '
            'and r._field == "latency_ms"',
            lambda rows: len(rows) >= 2,
            proc=proc,
        )
        assert sorted(r["_value"] for r in rows) == [1.25, 2.25]
        times_ns = sorted(
            int(r["_time"].timestamp()) * 1_000_000_000 + r["_time"].microsecond * 1000
            for r in rows
        )
        expected = sorted(audit_time_ns(ts, r.request_id) for r in records)
        # Flux returns microseconds: the points sit at their audit_time_ns, to the µs.
        assert [t // 1000 for t in times_ns] == [t // 1000 for t in expected]
        dead = consume_until(
            bootstrap,
            topics.dead_letter,
            lambda ms: any(m.key == principal.encode() for m in ms),
            proc=proc,
        )
        body = orjson.loads(next(m for m in dead if m.key == principal.encode()).value)
        assert body["stage"] == "audit"
        assert body["reason"] == "status: must be of type int"
