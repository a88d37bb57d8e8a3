"""``GET /api/machines/{id}/readings``: raw or windowed history from InfluxDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import HistoryDep, Principal, SettingsDep
from api.history.params import readings_query
from api.responses import OrjsonResponse, json_response
from contracts.readings import machine_id_json
from contracts.timefmt import format_ts

router = APIRouter(prefix="/api", tags=["history"])


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@router.get(
    "/machines/{machine_id}/readings",
    response_class=OrjsonResponse,
    responses={
        422: {"description": "A parameter is invalid; the detail names it"},
        503: {"description": "InfluxDB does not answer"},
    },
)
async def get_readings(
    machine_id: str,
    identity: Principal,
    history: HistoryDep,
    settings: SettingsDep,
    start: Annotated[
        str, Query(description="-1h (relative), now, or RFC 3339 like 2025-12-20T14:30:00Z")
    ] = "-1h",
    stop: Annotated[str, Query(description="now, a relative time, or RFC 3339")] = "now",
    fields: Annotated[
        str | None, Query(description="comma-separated, e.g. temperature_c,power_kw; all if unset")
    ] = None,
    window: Annotated[str | None, Query(description="aggregate window, e.g. 1m, 15m, 1h")] = None,
    fn: Annotated[
        str | None, Query(description="mean (default with window), median, min, max, sum, ...")
    ] = None,
    limit: Annotated[int | None, Query(description="maximum points (oldest first)")] = None,
) -> OrjsonResponse:
    """Points pivoted by time: ``{"ts": ..., "temperature_c": 68.1, ...}``, oldest first."""
    query = readings_query(
        machine_id=machine_id,
        start=start,
        stop=stop,
        fields=fields,
        window=window,
        fn=fn,
        limit=limit,
        now=datetime.now(UTC),
        default_limit=settings.readings_default_limit,
        max_limit=settings.readings_max_limit,
    )
    result = await history.readings(query)
    return json_response(
        {
            "machine_id": machine_id_json(query.machine_id),
            "start": format_ts(_ms(query.start)),
            "stop": format_ts(_ms(query.stop)),
            "fields": None if query.fields is None else list(query.fields),
            "window": None if query.window is None else str(query.window),
            "fn": query.fn,
            "limit": query.limit,
            "truncated": result.truncated,
            "points": result.points,
        }
    )
