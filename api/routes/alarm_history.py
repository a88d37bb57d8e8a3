"""Alarm history from the InfluxDB ``alarms`` bucket: the journal (operators) and the
ISA-18.2 performance KPIs (engineers and admins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query

from api.alarms.health import alarm_health
from api.alarms.history_models import AlarmHealthOut, JournalOut
from api.alarms.journal import JournalFilter, event_rows, events_flux, journal_flux, journal_rows
from api.deps import Engineer, HistoryDep, Principal
from api.errors import InvalidInputError
from api.history.params import parse_range
from api.queryparams import comma_choices
from api.responses import OrjsonResponse
from api.route_errors import QUERY_ERRORS
from contracts.alarms import AlarmEventKind, Severity
from contracts.errors import ContractError
from contracts.patterns import is_sensor_name
from contracts.readings import normalize_machine_id
from contracts.timefmt import datetime_ms, format_ts, now_ms

# Every route answers orjson and may refuse its query (422) or find InfluxDB down (503).
router = APIRouter(
    prefix="/api", tags=["alarms"], default_response_class=OrjsonResponse, responses=QUERY_ERRORS
)

_SEVERITIES = frozenset(get_args(Severity))
_EVENTS = frozenset(get_args(AlarmEventKind))
MAX_JOURNAL = 10_000
MAX_HEALTH_DAYS = 400
Instant = Annotated[str, Query(max_length=64, description="-24h, now, or RFC 3339")]
Text = Annotated[str | None, Query(max_length=200)]


def _filter(start: str, stop: str, *, plant: str | None = None, **more: Any) -> JournalFilter:
    start_at, stop_at = parse_range(start, stop, now=datetime.now(UTC))
    return JournalFilter(start=start_at, stop=stop_at, plant=plant, **more)


@router.get("/alarms/journal", response_model=JournalOut)
async def alarm_journal(
    identity: Principal,
    history: HistoryDep,
    start: Instant = "-24h",
    stop: Instant = "now",
    plant: Text = None,
    machine_id: Text = None,
    sensor: Text = None,
    severity: Text = None,
    event: Text = None,
    limit: Annotated[int, Query(ge=1, le=MAX_JOURNAL)] = 1000,
) -> OrjsonResponse:
    """Every alarm event of the period (raised, cleared, acknowledged, shelved, unshelved),
    newest first; ``severity`` and ``event`` take comma lists."""
    if sensor is not None and not is_sensor_name(sensor):
        raise InvalidInputError(f"sensor: {sensor!r} is not a sensor name (lower_snake_case)")
    try:
        machine = normalize_machine_id(machine_id) if machine_id is not None else None
    except ContractError as exc:
        raise InvalidInputError(str(exc)) from exc
    query = _filter(
        start,
        stop,
        plant=plant,
        machine_id=machine,
        sensor=sensor,
        severities=comma_choices("severity", [severity] if severity else None, _SEVERITIES),
        events=comma_choices("event", [event] if event else None, _EVENTS),
    )
    readers = history.of(plant=plant, machine_id=machine)
    rows = await history.query_each(
        readers,
        lambda reader: journal_flux(bucket=reader.alarms_bucket, query=query, limit=limit),
        journal_rows,
        order=lambda row: row["ts"],
        newest_first=True,
    )
    return OrjsonResponse(
        {
            "start": format_ts(datetime_ms(query.start)),
            "stop": format_ts(datetime_ms(query.stop)),
            "limit": limit,
            "truncated": len(rows) > limit,
            "events": rows[:limit],
        }
    )


@router.get("/alarm-health", response_model=AlarmHealthOut)
async def alarm_health_kpis(
    identity: Engineer,
    history: HistoryDep,
    start: Instant = "-7d",
    stop: Instant = "now",
    plant: Text = None,
) -> OrjsonResponse:
    """ISA-18.2 KPIs of the period: alarms per 10 minutes per plant (the guideline's 1-2),
    peak 10-minute rate, share of time in flood, the ten most frequent alarms, chattering
    and standing alarms, time to acknowledge."""
    query = _filter(start, stop, plant=plant)
    if (query.stop - query.start).days > MAX_HEALTH_DAYS:
        raise InvalidInputError(f"start: the period may span at most {MAX_HEALTH_DAYS} days")
    readers = history.of(plant=plant)
    events = await history.query_each(
        readers,
        lambda reader: events_flux(bucket=reader.alarms_bucket, query=query),
        event_rows,
        order=lambda e: e.ts_ms,
    )
    start_ms = datetime_ms(query.start)
    stop_ms = datetime_ms(query.stop)
    return OrjsonResponse(
        alarm_health(events, start_ms=start_ms, stop_ms=stop_ms, now_ms=now_ms(), plant=plant)
    )
