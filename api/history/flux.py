"""Rendering a validated :class:`ReadingsQuery` as Flux."""

from __future__ import annotations

from datetime import UTC, datetime

from api.history.params import ReadingsQuery
from contracts.influx_schema import AGGREGATES, AGGREGATES_FIELDS, QUALITY_SUFFIX, READINGS

MEASUREMENT = READINGS


def flux_string(text: str) -> str:
    """A Flux string literal: backslash, quote and ``${`` interpolation escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def flux_time(moment: datetime) -> str:
    """A Flux date-time literal in UTC, microsecond precision."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def readings_flux(query: ReadingsQuery, *, bucket: str, quality: bool = False) -> str:
    """One table, rows pivoted by time: ``_time`` plus one numeric column per field, and
    with ``quality`` (raw points only) the string fields ``<sensor>_quality`` as well.

    ``limit + 1`` rows are asked for, so the caller can tell the result was truncated.
    """
    quality = quality and query.window is None
    lines = [
        'import "types"',
        "",
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {flux_time(query.start)}, stop: {flux_time(query.stop)})",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(MEASUREMENT)}"
        f" and r.machine_id == {flux_string(query.machine_id)})",
    ]
    if query.fields is not None:
        names = [*query.fields, *(f + QUALITY_SUFFIX for f in query.fields if quality)]
        matches = " or ".join(f"r._field == {flux_string(f)}" for f in names)
        lines.append(f"  |> filter(fn: (r) => {matches})")
    texts = f" or r._field =~ /{QUALITY_SUFFIX}$/" if quality else ""
    lines.append(
        '  |> filter(fn: (r) => types.isType(v: r._value, type: "float")'
        f' or types.isType(v: r._value, type: "int"){texts})'
    )
    if query.window is not None and query.fn is not None:
        lines.append(
            f"  |> aggregateWindow(every: {query.window.flux()}, fn: {query.fn},"
            " createEmpty: false)"
        )
    lines += [
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        '  |> drop(columns: ["_start", "_stop", "_measurement"])',
        "  |> group()",
        '  |> sort(columns: ["_time"])',
        f"  |> limit(n: {query.limit + 1})",
    ]
    return "\n".join(lines)


def _machine_readings(bucket: str, machine_id: str, start: datetime, stop: datetime) -> list[str]:
    """The lines that read one machine's readings in ``[start, stop)``."""
    return [
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {flux_time(start)}, stop: {flux_time(stop)})",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(READINGS)}"
        f" and r.machine_id == {flux_string(machine_id)})",
    ]


def latest_flux(*, bucket: str, machine_id: str, start: datetime, stop: datetime) -> str:
    """The last value of every numeric field of one machine, one row per distinct time."""
    return "\n".join(
        [
            'import "types"',
            "",
            *_machine_readings(bucket, machine_id, start, stop),
            # last() right after range and filter runs inside the storage engine (pushdown);
            # the type filter after it sees one row per field instead of every point.
            "  |> last()",
            '  |> filter(fn: (r) => types.isType(v: r._value, type: "float")'
            ' or types.isType(v: r._value, type: "int"))',
            '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
            '  |> drop(columns: ["_start", "_stop", "_measurement"])',
            "  |> group()",
            '  |> sort(columns: ["_time"])',
        ]
    )


def latest_texts_flux(*, bucket: str, machine_id: str, start: datetime, stop: datetime) -> str:
    """The last text of every text tag of one machine: its string fields other than the
    ``<sensor>_quality`` ones, one row per field (``_time``, ``_field``, ``_value``)."""
    return "\n".join(
        [
            'import "strings"',
            'import "types"',
            "",
            *_machine_readings(bucket, machine_id, start, stop),
            "  |> last()",  # pushed down, as in latest_flux
            '  |> filter(fn: (r) => types.isType(v: r._value, type: "string")'
            f" and not strings.hasSuffix(v: r._field, suffix: {flux_string(QUALITY_SUFFIX)}))",
            '  |> keep(columns: ["_time", "_field", "_value"])',
            "  |> group()",
            '  |> sort(columns: ["_time"])',
        ]
    )


def aggregates_flux(
    *,
    bucket: str,
    machine_id: str,
    window: str,
    sensors: tuple[str, ...] | None,
    start: datetime,
    stop: datetime,
    limit: int,
) -> str:
    """Window statistics of one machine, one row per window start and sensor; ``window``
    and ``sensors`` must have been validated (they are also escaped)."""
    lines = [
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {flux_time(start)}, stop: {flux_time(stop)})",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(AGGREGATES)}"
        f" and r.machine_id == {flux_string(machine_id)} and r.window == {flux_string(window)})",
    ]
    if sensors is not None:
        matches = " or ".join(f"r.sensor == {flux_string(s)}" for s in sensors)
        lines.append(f"  |> filter(fn: (r) => {matches})")
    lines += [
        '  |> pivot(rowKey: ["_time", "sensor"], columnKey: ["_field"], valueColumn: "_value")',
        '  |> keep(columns: ["_time", "sensor", '
        + ", ".join(f'"{f}"' for f in AGGREGATES_FIELDS)
        + "])",
        "  |> group()",
        '  |> sort(columns: ["_time", "sensor"])',
        f"  |> limit(n: {limit + 1})",
    ]
    return "\n".join(lines)
