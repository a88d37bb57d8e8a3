"""One audit record per API request, on the audit topic (key = principal), and its point
in InfluxDB.

``principal`` names who made the request: ``key:<key id>`` for an API key,
``user:<name>`` for a logged-in user, ``anonymous`` when no valid credential was given.
``path`` never carries the query string, and no record carries a secret.

The request's fields are declared once (:class:`AuditedRequest`): the record adds when it
was made (``ts_ms``), an entry read back from InfluxDB (:class:`AuditEntry`) the same time
as text. :func:`audit_line` builds the audit point (the pipeline worker is its one writer,
from the audit topic); :func:`audit_entry` reads one back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, get_type_hints

import orjson

from contracts.codec import decode_object
from contracts.errors import ContractError
from contracts.influx_schema import AUDIT, AUDIT_FIELDS, AUDIT_TAGS, audit_time_ns
from contracts.line_protocol import escape_measurement, field_set, tag_set


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditedRequest:
    """What one API request was: who made it, what it asked, how it ended."""

    request_id: str
    principal: str
    role: str
    method: str
    path: str
    status: int
    latency_ms: float
    client: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord(AuditedRequest):
    """A request as the audit topic carries it."""

    ts_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def key(self) -> bytes:
        return self.principal.encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry(AuditedRequest):
    """A request as ``GET /api/audit`` answers it: ``time`` in RFC 3339."""

    time: str


_HINTS = get_type_hints(AuditRecord)
_FIELDS: dict[str, type] = {f.name: _HINTS[f.name] for f in fields(AuditRecord)}
_REQUEST_FIELDS: dict[str, type] = {f.name: _HINTS[f.name] for f in fields(AuditedRequest)}


def decode_audit(data: bytes) -> AuditRecord:
    obj = decode_object(data, "audit")
    values: dict[str, Any] = {}
    for name, kind in _FIELDS.items():
        if name not in obj:
            raise ContractError(f"{name}: field required")
        raw = obj[name]
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            raw = float(raw)
        if isinstance(raw, bool) or not isinstance(raw, kind):
            raise ContractError(f"{name}: must be of type {kind.__name__}")
        values[name] = raw
    return AuditRecord(**values)


def audit_line(record: AuditRecord) -> str:
    """The record's point in line protocol: measurement ``audit``, the schema's tags and
    fields (sorted by name), at :func:`audit_time_ns` (write with nanosecond precision)."""
    tags = tag_set({name: str(getattr(record, name)) for name in AUDIT_TAGS})
    values = {name: getattr(record, name) for name in sorted(AUDIT_FIELDS)}
    values["latency_ms"] = float(record.latency_ms)
    return (
        f"{escape_measurement(AUDIT)}{tags} {field_set(values)} "
        f"{audit_time_ns(record.ts_ms, record.request_id)}"
    )


def _point_value(raw: Any, kind: type) -> Any:
    if kind is int:  # a tag: text
        return int(raw) if isinstance(raw, str) and raw.isdigit() else 0
    if kind is float:
        return float(raw or 0.0)
    return str(raw or "")


def audit_entry(values: Mapping[str, Any], *, time: str) -> AuditEntry:
    """An audit point read back (its tags and pivoted fields by name) as an entry at
    ``time``; a value the point lacks reads as empty or zero."""
    return AuditEntry(
        time=time,
        **{name: _point_value(values.get(name), kind) for name, kind in _REQUEST_FIELDS.items()},
    )
