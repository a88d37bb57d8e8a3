"""``GET /api/audit``: who did what, from the audit bucket in InfluxDB (admins only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import Admin, SecurityDep, SettingsDep
from api.errors import InvalidInputError
from api.history.params import parse_instant
from api.security.audit import audit_flux
from contracts.audit import AuditEntry

# JSONResponse (not the orjson default) so the OpenAPI schema shows the response models.
router = APIRouter(prefix="/api", tags=["audit"], default_response_class=JSONResponse)

MAX_AUDIT_LIMIT = 10_000
# Text filters are printable: a control character (NUL above all) is no principal or path,
# and InfluxDB refuses a query that carries one.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


def _instant(text: str, *, param: str, now: datetime) -> datetime:
    try:
        return parse_instant(text, param=param, now=now)
    except (OverflowError, ValueError) as exc:
        raise InvalidInputError(f"{param}: {text!r} is not a usable time") from exc


@router.get(
    "/audit",
    response_model=list[AuditEntry],
    responses={503: {"description": "InfluxDB does not answer"}},
)
async def audit(
    admin: Admin,
    security: SecurityDep,
    settings: SettingsDep,
    who: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=PRINTABLE,
            description="key:<key id>, user:<name> or anonymous",
        ),
    ] = None,
    path: Annotated[
        str | None, Query(max_length=2000, pattern=PRINTABLE, description="Exact request path")
    ] = None,
    path_prefix: Annotated[str | None, Query(max_length=2000, pattern=PRINTABLE)] = None,
    method: Annotated[
        Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WS"] | None, Query()
    ] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    start: Annotated[str, Query(max_length=64, description="-1h, now or RFC 3339")] = "-1h",
    stop: Annotated[str, Query(max_length=64)] = "now",
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = 100,
) -> list[AuditEntry]:
    """Requests newest first, filtered by who, path, method, status and time range."""
    now = datetime.now(UTC)
    begin = _instant(start, param="start", now=now)
    end = _instant(stop, param="stop", now=now)
    if begin >= end:
        raise InvalidInputError("start: must be before stop")
    flux = audit_flux(
        bucket=settings.influx_audit_bucket,
        start=begin,
        stop=end,
        principal=who,
        method=method,
        status=status,
        path=path,
        path_prefix=path_prefix,
        limit=limit,
    )
    return await security.audit.query(flux)
