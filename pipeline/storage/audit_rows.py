"""The audit topic's points: each record (``contracts.audit.AuditRecord``) is one point in
``influx_audit_bucket`` at :func:`contracts.influx_schema.audit_time_ns` (nanoseconds, so
two requests in one millisecond stay two points and a replay overwrites the same point).
:class:`pipeline.storage.rows_loop.RowsLoop` batches, stores and dead-letters them.
"""

from __future__ import annotations

from contracts.audit import AuditRecord, decode_audit
from contracts.influx_schema import AUDIT, audit_time_ns
from pipeline.storage.line_protocol import float_field, string_field, tag_set


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


def audit_record_line(value: bytes) -> str:
    """The point of one record of the audit topic; :class:`ContractError` if invalid."""
    return audit_line(decode_audit(value))
