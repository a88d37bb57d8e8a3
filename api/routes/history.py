"""``GET /api/machines/{id}/readings``: raw or windowed history from InfluxDB."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import HistoryDep, Principal, SettingsDep
from api.errors import InvalidInputError
from api.flat import machine_id_json
from api.history.csvout import CSV_MEDIA_TYPE, readings_csv
from api.history.flux import aggregates_flux
from api.history.params import (
    ReadingsQuery,
    parse_fields,
    parse_limit,
    parse_range,
    readings_query,
)
from api.history.reader import ReadingsResult
from api.history.sources import pick_source
from api.pathparams import MachineIdPath
from api.responses import OrjsonResponse, conditional_json
from api.route_errors import QUERY_ERRORS
from contracts.timefmt import datetime_ms, format_ts

router = APIRouter(prefix="/api", tags=["history"])


class ReadingsOut(BaseModel):
    """``points``: ``{"ts": ..., "<field>": <number>, ...}``, oldest first."""

    machine_id: int | str
    start: str
    stop: str
    fields: list[str] | None
    window: str | None
    fn: str | None
    limit: int
    truncated: bool
    source: Literal["raw", "aggregates"]
    points: list[dict[str, float | int | str]]


SOURCE_HEADER = "X-Millstream-Source"
TRUNCATED_HEADER = "X-Millstream-Truncated"
_CSV_EXAMPLE = (
    "machine_id,ts,power_kw,temperature_c,temperature_c_quality\n"
    "42,2026-12-01T08:00:00.000Z,11.2,68.1,\n"
    "42,2026-12-01T08:00:01.000Z,11.3,68.4,uncertain\n"
)
_HEADERS = {
    SOURCE_HEADER: {
        "description": "raw or aggregates: the bucket the answer was read from",
        "schema": {"type": "string"},
    },
    TRUNCATED_HEADER: {
        "description": "format=csv: true when more points follow (see Link)",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'format=csv, truncated: the next page, rel="next"',
        "schema": {"type": "string"},
    },
}


def _next_start(query: ReadingsQuery, points: list[dict[str, Any]]) -> str:
    """Where the next page starts: just after the last point (the end of its window)."""
    last = str(points[-1]["ts"])
    if query.window is not None:
        return last
    moment = datetime.fromisoformat(last.replace("Z", "+00:00"))
    return format_ts(datetime_ms(moment) + 1)


def _csv_answer(
    request: Request, query: ReadingsQuery, result: ReadingsResult, source: str
) -> Response:
    headers = {SOURCE_HEADER: source, TRUNCATED_HEADER: str(result.truncated).lower()}
    if result.truncated and result.points:
        following = request.url.include_query_params(
            start=_next_start(query, result.points), stop=format_ts(datetime_ms(query.stop))
        )
        headers["Link"] = f'<{following}>; rel="next"'
    body = readings_csv(str(machine_id_json(query.machine_id)), result.points)
    return Response(body, media_type=CSV_MEDIA_TYPE, headers=headers)


@router.get(
    "/machines/{machine_id}/readings",
    response_class=OrjsonResponse,
    response_model=ReadingsOut,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}},
            "headers": _HEADERS,
        },
        **QUERY_ERRORS,
    },
)
async def get_readings(
    request: Request,
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
    source: Annotated[
        Literal["auto", "raw", "aggregates"] | None,
        Query(
            description="raw (default): raw points. auto: the aggregates bucket's one-minute"
            " windows when window is whole minutes and fn is mean, sum, count, min, max or"
            " last, raw points otherwise. aggregates: the one-minute windows or 422"
        ),
    ] = None,
    format: Annotated[
        Literal["json", "csv"],
        Query(description="json, or csv: machine_id,ts,<field>,... as millstream import reads"),
    ] = "json",
) -> Response:
    """Points pivoted by time: ``{"ts": ..., "temperature_c": 68.1, ...}``, oldest first;
    ``source`` names the bucket read (also in the ``X-Millstream-Source`` header)."""
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
    picked = pick_source(source, window=query.window, fn=query.fn)
    reader = history.for_machine(query.machine_id)
    result = await reader.readings(query, source=picked, quality=format == "csv")
    if format == "csv":
        return _csv_answer(request, query, result, picked)
    return conditional_json(
        request,
        {
            "machine_id": machine_id_json(query.machine_id),
            "start": format_ts(datetime_ms(query.start)),
            "stop": format_ts(datetime_ms(query.stop)),
            "fields": None if query.fields is None else list(query.fields),
            "window": None if query.window is None else str(query.window),
            "fn": query.fn,
            "limit": query.limit,
            "truncated": result.truncated,
            "source": picked,
            "points": result.points,
        },
        headers={SOURCE_HEADER: picked},
    )


# Window labels as the pipeline tags them (contracts.aggregates.window_label): 1m, 5m_1m.
_WINDOW_LABEL = re.compile(r"\d{1,6}[smh](?:_\d{1,6}[smh])?")


class LatestValue(BaseModel):
    value: float
    ts: str


class LatestText(BaseModel):
    value: str
    ts: str


class LatestOut(BaseModel):
    """``values``: numeric sensors; ``texts``: text tags (Modbus string tags), if any."""

    machine_id: int | str
    values: dict[str, LatestValue]
    texts: dict[str, LatestText] = {}


class AggregatePoint(BaseModel):
    ts: str
    sensor: str
    count: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    last: float | None = None
    stddev: float | None = None
    sum: float | None = None


class AggregatesOut(BaseModel):
    machine_id: int | str
    window: str
    start: str
    stop: str
    truncated: bool
    points: list[AggregatePoint]


@router.get("/machines/{machine_id}/latest", response_model=LatestOut, responses=QUERY_ERRORS)
async def get_latest(
    request: Request,
    machine_id: MachineIdPath,
    identity: Principal,
    history: HistoryDep,
    start: Annotated[str, Query(description="How far back to look: -1h, RFC 3339")] = "-30d",
) -> Response:
    """The newest value of every sensor of the machine, each with its own time; the newest
    text of every text tag under ``texts`` (left out when the machine has none)."""
    start_at, stop_at = parse_range(start, "now", now=datetime.now(UTC))
    reader = history.for_machine(machine_id)
    values, texts = await asyncio.gather(
        reader.latest(machine_id=machine_id, start=start_at, stop=stop_at),
        reader.latest_texts(machine_id=machine_id, start=start_at, stop=stop_at),
    )
    body: dict[str, Any] = {"machine_id": machine_id_json(machine_id), "values": values}
    if texts:
        body["texts"] = texts
    return conditional_json(request, body)


@router.get(
    "/machines/{machine_id}/aggregates", response_model=AggregatesOut, responses=QUERY_ERRORS
)
async def get_aggregates(
    request: Request,
    machine_id: MachineIdPath,
    identity: Principal,
    history: HistoryDep,
    settings: SettingsDep,
    window: Annotated[
        str, Query(description="window label: 1m (tumbling) or 5m_1m (5 min every 1 min)")
    ] = "1m",
    start: Annotated[str, Query(description="-24h (relative), or RFC 3339")] = "-24h",
    stop: Annotated[str, Query(description="now, a relative time, or RFC 3339")] = "now",
    sensors: Annotated[
        str | None, Query(description="comma-separated sensor names; all if unset")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description="maximum rows (oldest first)")] = None,
) -> Response:
    """Window statistics (count, min, max, mean, last, stddev, sum) per sensor, oldest
    first, from the aggregates bucket the pipeline writes (``sum`` is missing from windows
    written before it was added)."""
    if not _WINDOW_LABEL.fullmatch(window):
        raise InvalidInputError(f"window: {window!r} is not a window label (e.g. 1m, 5m_1m)")
    start_at, stop_at = parse_range(start, stop, now=datetime.now(UTC))
    rows = parse_limit(
        limit, default=settings.readings_default_limit, most=settings.readings_max_limit
    )
    reader = history.for_machine(machine_id)
    flux = aggregates_flux(
        bucket=reader.aggregates_bucket,
        machine_id=machine_id,
        window=window,
        sensors=parse_fields(sensors),
        start=start_at,
        stop=stop_at,
        limit=rows,
    )
    result = await reader.aggregates(flux, limit=rows)
    return conditional_json(
        request,
        {
            "machine_id": machine_id_json(machine_id),
            "window": window,
            "start": format_ts(datetime_ms(start_at)),
            "stop": format_ts(datetime_ms(stop_at)),
            "truncated": result.truncated,
            "points": result.points,
        },
    )
