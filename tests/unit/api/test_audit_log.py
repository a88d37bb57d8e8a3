"""The API's audit log publishes each record to the audit topic and writes no point itself
(the pipeline worker is the one writer of audit points); a batch Kafka refuses is
published again under the retry policy; a full queue drops without waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from api.security.audit import AuditLog
from api.security.metrics import ApiMetrics
from contracts.audit import AuditRecord, decode_audit
from kafka_edge.records import Record
from kafka_edge.retry import RetryPolicy


class FlakyPublisher:
    """Refuses the first ``refusals`` publishes, then keeps what it is given."""

    def __init__(self, refusals: int = 0) -> None:
        self.refusals = refusals
        self.published: list[tuple[str, Record]] = []

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("broker away")
        self.published += [(topic, r) for r in records]


def _record(i: int) -> AuditRecord:
    return AuditRecord(
        request_id=f"r{i}",
        ts_ms=1_766_241_000_000 + i,
        principal="key:k1",
        role="operator",
        method="GET",
        path="/api/machines",
        status=200,
        latency_ms=0.5,
        client="127.0.0.1",
    )


def _audit_log(publisher: FlakyPublisher, metrics: ApiMetrics, *, queue_records: int) -> AuditLog:
    return AuditLog(
        publisher=publisher,  # type: ignore[arg-type]
        topic="audit-topic",
        # Nothing answers here: a point written to InfluxDB would fail and be counted.
        influx_url="http://127.0.0.1:1",
        influx_token="",
        influx_org="o",
        metrics=metrics,
        queue_records=queue_records,
        batch_records=10,
        flush_interval_s=0.05,
        query_timeout_s=1.0,
        retry=RetryPolicy(initial_s=0.01, max_s=0.05, deadline_s=5.0),
    )


async def _offer_and_drain(publisher: FlakyPublisher, metrics: ApiMetrics, count: int) -> None:
    log = _audit_log(publisher, metrics, queue_records=100)
    await log.start()
    for i in range(count):
        log.offer(_record(i))
    await log.stop(drain_timeout_s=5.0)


async def test_records_go_to_the_topic_and_no_point_is_written_by_the_api() -> None:
    publisher, metrics = FlakyPublisher(), ApiMetrics()

    await _offer_and_drain(publisher, metrics, 3)

    assert [(t, decode_audit(r.value or b"")) for t, r in publisher.published] == [
        ("audit-topic", _record(i)) for i in range(3)
    ]
    text = metrics.render().decode()
    assert 'millstream_api_audit_written_total{sink="kafka"} 3.0' in text
    assert "influxdb" not in text
    assert 'millstream_api_audit_failed_total{sink="kafka"}' not in text


async def test_a_batch_kafka_refuses_is_published_again() -> None:
    publisher, metrics = FlakyPublisher(refusals=2), ApiMetrics()

    await _offer_and_drain(publisher, metrics, 2)

    assert [r.key for _, r in publisher.published] == [b"key:k1", b"key:k1"]
    text = metrics.render().decode()
    assert 'millstream_api_audit_written_total{sink="kafka"} 2.0' in text
    assert 'millstream_api_audit_failed_total{sink="kafka"}' not in text


async def test_a_full_audit_queue_drops_and_counts_without_waiting() -> None:
    metrics = ApiMetrics()
    log = _audit_log(FlakyPublisher(), metrics, queue_records=2)  # never started

    started = asyncio.get_running_loop().time()
    for i in range(5):
        log.offer(_record(i))

    assert asyncio.get_running_loop().time() - started < 0.1
    assert log.dropped == 3
    assert b"millstream_api_audit_dropped_total 3.0" in metrics.render()
