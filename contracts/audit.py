"""One audit record per API request, on the audit topic (key = principal).

``principal`` names who made the request: ``key:<key id>`` for an API key,
``user:<name>`` for a logged-in user, ``anonymous`` when no valid credential was given.
``path`` never carries the query string, and no record carries a secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

from contracts.errors import ContractError


@dataclass(frozen=True, slots=True)
class AuditRecord:
    request_id: str
    ts_ms: int
    principal: str
    role: str
    method: str
    path: str
    status: int
    latency_ms: float
    client: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def key(self) -> bytes:
        return self.principal.encode()


_FIELDS: dict[str, type] = {
    "request_id": str,
    "ts_ms": int,
    "principal": str,
    "role": str,
    "method": str,
    "path": str,
    "status": int,
    "latency_ms": float,
    "client": str,
}


def decode_audit(data: bytes) -> AuditRecord:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"audit: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise ContractError("audit: must be a JSON object")
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
