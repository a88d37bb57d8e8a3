"""Alarm events from the InfluxDB ``alarms`` bucket: the journal (every field, filtered,
newest first) and the bare events the KPIs need (:mod:`api.alarms.health`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.alarms.health import Event
from api.flat import machine_id_json
from api.history.csvrows import points_from_csv
from api.history.flux import flux_string, flux_time
from contracts.influx_schema import ALARMS, ALARMS_FIELDS, ALARMS_TAGS
from contracts.timefmt import parse_ts

_STRING_COLUMNS = (*ALARMS_TAGS, "event", "state", "message", "by", "comment")


@dataclass(frozen=True, slots=True)
class JournalFilter:
    start: datetime
    stop: datetime
    plant: str | None = None
    machine_id: str | None = None
    sensor: str | None = None
    severities: frozenset[str] | None = None
    events: frozenset[str] | None = None


def _any_of(column: str, values: frozenset[str]) -> str:
    return " or ".join(f"r.{column} == {flux_string(v)}" for v in sorted(values))


def _range_and_tags(bucket: str, f: JournalFilter) -> list[str]:
    lines = [
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {flux_time(f.start)}, stop: {flux_time(f.stop)})",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(ALARMS)})",
    ]
    for column, value in (("plant", f.plant), ("machine_id", f.machine_id), ("sensor", f.sensor)):
        if value is not None:
            lines.append(f"  |> filter(fn: (r) => r.{column} == {flux_string(value)})")
    if f.severities:
        lines.append(f"  |> filter(fn: (r) => {_any_of('severity', f.severities)})")
    return lines


def journal_flux(*, bucket: str, query: JournalFilter, limit: int) -> str:
    """One row per event, every field pivoted into columns, newest first, ``limit + 1``."""
    lines = _range_and_tags(bucket, query)
    lines.append('  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")')
    if query.events:
        lines.append(f"  |> filter(fn: (r) => {_any_of('event', query.events)})")
    lines += [
        '  |> drop(columns: ["_start", "_stop", "_measurement"])',
        "  |> group()",
        '  |> sort(columns: ["_time"], desc: true)',
        f"  |> limit(n: {limit + 1})",
    ]
    return "\n".join(lines)


def events_flux(*, bucket: str, query: JournalFilter) -> str:
    """The ``event`` field of every alarm event: time, event kind and the alarm's tags."""
    lines = _range_and_tags(bucket, query)
    lines += [
        '  |> filter(fn: (r) => r._field == "event")',
        '  |> keep(columns: ["_time", "_value", "plant", "machine_id", "sensor", "rule"])',
        "  |> group()",
    ]
    return "\n".join(lines)


def journal_rows(text: str) -> list[dict[str, Any]]:
    """Rows of :func:`journal_flux` -> the journal's events (:class:`FluxResultError`)."""
    out = []
    for point in points_from_csv(text, tags=_STRING_COLUMNS):
        machine = point.get("machine_id", "")
        row: dict[str, Any] = {
            "ts": point["ts"],
            "alarm_id": f"{machine}:{point.get('sensor', '')}:{point.get('rule', '')}",
            "machine_id": machine_id_json(machine) if machine else None,
        }
        for name in (*ALARMS_TAGS, *ALARMS_FIELDS):
            if name != "machine_id":
                row[name] = point.get(name, 0.0 if name in ("value", "threshold") else "")
        out.append(row)
    return out


def event_rows(text: str) -> list[Event]:
    """Rows of :func:`events_flux` -> events, oldest first."""
    events = [
        Event(
            ts_ms=parse_ts(p["ts"]),
            event=p.get("_value", ""),
            plant=p.get("plant", ""),
            machine_id=p.get("machine_id", ""),
            sensor=p.get("sensor", ""),
            rule=p.get("rule", ""),
        )
        for p in points_from_csv(text, tags=("_value", "plant", "machine_id", "sensor", "rule"))
    ]
    events.sort(key=lambda e: e.ts_ms)
    return events
