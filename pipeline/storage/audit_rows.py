"""The audit topic's points: each record (``contracts.audit.AuditRecord``) is one point in
``influx_audit_bucket``, built by :func:`contracts.audit.audit_line` as the API builds it
(nanoseconds, so two requests in one millisecond stay two points and a replay overwrites
the same point). :class:`pipeline.storage.rows_loop.RowsLoop` batches, stores and
dead-letters them.
"""

from __future__ import annotations

from contracts.audit import audit_line, decode_audit


def audit_record_line(value: bytes) -> str:
    """The point of one record of the audit topic; :class:`ContractError` if invalid."""
    return audit_line(decode_audit(value))
