"""The audit log: one :class:`AuditRecord` per request, batched off the request path.

:meth:`AuditLog.offer` never waits: records go to a bounded queue, and a full queue drops
the record and counts it (``millstream_api_audit_dropped``). One task drains the queue in
batches to the audit topic, retrying a batch Kafka does not take under the retry policy.
The pipeline worker is the one writer of the audit points
(:mod:`pipeline.storage.audit_rows`): from the topic to InfluxDB's audit bucket, with the
retries and dead letters of all its storage, so ``GET /api/audit`` reads what the worker
stored, a flush interval and a storage batch after the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from api.errors import HistoryUnavailableError
from api.history.flux import flux_string, flux_time
from api.kafka.producer import KafkaPublisher
from api.security.metrics import ApiMetrics
from contracts.audit import AuditEntry, AuditRecord, audit_entry
from contracts.influx_schema import AUDIT
from contracts.timefmt import datetime_ms, format_ts
from kafka_edge.records import Record
from kafka_edge.retry import RetryPolicy, retry_async

logger = logging.getLogger(__name__)


def audit_flux(
    *,
    bucket: str,
    start: datetime,
    stop: datetime,
    principal: str | None,
    method: str | None,
    status: int | None,
    path: str | None,
    path_prefix: str | None,
    limit: int,
) -> str:
    """Newest first; tag filters before the pivot, field filters after it."""
    lines = [
        'import "strings"',
        "",
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {flux_time(start)}, stop: {flux_time(stop)})",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(AUDIT)})",
    ]
    if principal is not None:
        lines.append(f"  |> filter(fn: (r) => r.principal == {flux_string(principal)})")
    if method is not None:
        lines.append(f"  |> filter(fn: (r) => r.method == {flux_string(method)})")
    if status is not None:
        lines.append(f"  |> filter(fn: (r) => r.status == {flux_string(str(status))})")
    lines.append('  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")')
    if path is not None:
        lines.append(f"  |> filter(fn: (r) => r.path == {flux_string(path)})")
    if path_prefix is not None:
        lines.append(
            f"  |> filter(fn: (r) => strings.hasPrefix(v: r.path, prefix: "
            f"{flux_string(path_prefix)}))"
        )
    lines += [
        "  |> group()",
        '  |> sort(columns: ["_time"], desc: true)',
        f"  |> limit(n: {int(limit)})",
    ]
    return "\n".join(lines)


def _entry(values: dict[str, Any]) -> AuditEntry:
    moment = values.get("_time")
    ts_ms = datetime_ms(moment) if isinstance(moment, datetime) else 0
    return audit_entry(values, time=format_ts(ts_ms))


# A batch Kafka does not take is retried for this long; then it is counted as failed.
PUBLISH_RETRY = RetryPolicy(initial_s=0.2, max_s=5.0, deadline_s=60.0)


class AuditLog:
    """Takes records without waiting; publishes them in batches; answers audit queries."""

    def __init__(
        self,
        *,
        publisher: KafkaPublisher,
        topic: str,
        influx_url: str,
        influx_token: str,
        influx_org: str,
        metrics: ApiMetrics,
        queue_records: int,
        batch_records: int,
        flush_interval_s: float,
        query_timeout_s: float,
        enabled: bool = True,
        retry: RetryPolicy = PUBLISH_RETRY,
    ) -> None:
        self.enabled = enabled
        self._retry = retry
        self.topic = topic
        self._publisher = publisher
        self._influx_url = influx_url
        self._influx_token = influx_token
        self._org = influx_org
        self._metrics = metrics
        self._queue: asyncio.Queue[AuditRecord] = asyncio.Queue(maxsize=queue_records)
        self._batch_records = batch_records
        self._flush_interval_s = flush_interval_s
        self._query_timeout_s = query_timeout_s
        self._client: InfluxDBClientAsync | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    async def start(self) -> None:
        self._client = InfluxDBClientAsync(
            url=self._influx_url,
            token=self._influx_token,
            org=self._org,
            timeout=int(self._query_timeout_s * 1000),
        )
        if self.enabled:
            self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self, *, drain_timeout_s: float = 5.0) -> None:
        """Write what is queued (bounded by ``drain_timeout_s``), then stop."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_timeout_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    def offer(self, record: AuditRecord) -> None:
        """Queue one record; never blocks, never raises (a full queue drops and counts)."""
        if not self.enabled:
            return
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1
            self._metrics.audit_dropped.inc()

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval_s):
                    while len(batch) < self._batch_records:
                        batch.append(await self._queue.get())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[AuditRecord]) -> None:
        records = [Record(r.key(), r.encode()) for r in batch]
        try:
            await retry_async(
                lambda: self._publisher.publish(self.topic, records),
                policy=self._retry,
                what="audit publish",
            )
            self._metrics.audit_written.labels(sink="kafka").inc(len(batch))
        except Exception as exc:  # counted and logged; the request path never sees it
            self._metrics.audit_failed.labels(sink="kafka").inc(len(batch))
            logger.warning("audit records not produced count=%d error=%s", len(batch), exc)

    async def query(self, flux: str) -> list[AuditEntry]:
        if self._client is None:
            raise HistoryUnavailableError("influxdb: the audit client is not running")
        try:
            async with asyncio.timeout(self._query_timeout_s):
                tables = await self._client.query_api().query(flux)
        except TimeoutError as exc:
            raise HistoryUnavailableError(
                f"influxdb: audit query took longer than {self._query_timeout_s:g}s"
            ) from exc
        except Exception as exc:
            logger.warning("audit query failed error=%s", exc)
            raise HistoryUnavailableError("influxdb: audit query failed") from exc
        return [_entry(row.values) for table in tables for row in table.records]
