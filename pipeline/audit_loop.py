"""The audit sink: records of the audit topic become ``audit`` points in InfluxDB.

Each record (``contracts.audit.AuditRecord``) is one point in ``influx_audit_bucket`` at
:func:`contracts.influx_schema.audit_time_ns` (nanoseconds, so two requests in one
millisecond stay two points and a replay overwrites the same point). Batched and acked
like readings: offsets are committed only after InfluxDB accepted the batch; a record that
does not decode is dead-lettered (stage ``audit``) with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contracts.audit import AuditRecord, decode_audit
from contracts.errors import ContractError
from contracts.influx_schema import AUDIT, audit_time_ns
from contracts.timefmt import now_ms
from pipeline.batch import source_record
from pipeline.chunks import Chunk
from pipeline.dead_letter import DeadLetter
from pipeline.line_protocol import float_field, string_field, tag_set
from pipeline.sink.influx import InfluxSink
from pipeline.storage.batcher import StorageBatcher


def audit_line(record: AuditRecord) -> str:
    tags = tag_set(
        {"principal": record.principal, "method": record.method, "status": str(record.status)}
    )
    # Fields sorted by name, as influxdb_client's Point writes them (the API writes the
    # same points that way).
    fields = (
        f"client={string_field(record.client)},"
        f"latency_ms={float_field(record.latency_ms)},"
        f"path={string_field(record.path)},"
        f"request_id={string_field(record.request_id)},"
        f"role={string_field(record.role)}"
    )
    return f"{AUDIT}{tags} {fields} {audit_time_ns(record.ts_ms, record.request_id)}"


def decode_audit_records(
    records: Iterable[Any], *, now_ms: int
) -> tuple[list[str], list[Any], list[DeadLetter]]:
    lines: list[str] = []
    sources: list[Any] = []
    dead: list[DeadLetter] = []
    for record in records:
        try:
            if record.value is None:
                raise ContractError("value: missing (null record)")
            lines.append(audit_line(decode_audit(record.value)))
            sources.append(record)
        except ContractError as exc:
            dead.append(
                DeadLetter.build(
                    source_record(record), reason=str(exc), stage="audit", failed_at_ms=now_ms
                )
            )
    return lines, sources, dead


class AuditLoop:
    def __init__(self, *, sink: InfluxSink, batcher: StorageBatcher) -> None:
        self._sink = sink
        self._batcher = batcher

    async def on_chunk(self, chunk: Chunk) -> None:
        lines, sources, dead = decode_audit_records(chunk.records, now_ms=now_ms())
        await self._batcher.add(
            chunk, [("audit", self._sink.write_audit, lines, sources)], dead, primary=len(lines)
        )
