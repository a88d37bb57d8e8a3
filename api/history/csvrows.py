"""Turning InfluxDB's annotated CSV (``#datatype`` annotation, header) into points.

influxdb-client's own parser builds a ``FluxRecord`` per value and parses every time
stamp into a ``datetime``; for the pivoted, numeric-only tables the readings query
returns, reading the CSV directly is several times faster and keeps memory flat.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from contracts.timefmt import datetime_ms, format_ts

_NUMERIC: dict[str, Callable[[str], Any]] = {
    "double": float,
    "long": int,
    "unsignedLong": int,
}
_TIME_COLUMN = "_time"


class FluxResultError(ValueError):
    """InfluxDB reported an error inside a result it had started to stream."""


def normalize_rfc3339(text: str) -> str:
    """InfluxDB's ``2025-12-20T14:30:00.1Z`` -> ``2025-12-20T14:30:00.100Z`` (ms, UTC)."""
    if text.endswith("Z") and len(text) >= 20 and text[19] in ".Z":
        head = text[:19]
        frac = text[20:-1] if text[19] == "." else ""
        return f"{head}.{frac[:3].ljust(3, '0')}Z"
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return format_ts(datetime_ms(moment))


def csv_tables(text: str) -> Iterator[tuple[list[str], list[str], list[list[str]]]]:
    """Yield ``(datatypes, header, rows)`` per table of the annotated CSV;
    :class:`FluxResultError` at a table that reports an error."""
    for datatypes, header, rows in _tables(text):
        if "error" in header and _TIME_COLUMN not in header:
            where = header.index("error")
            message = rows[0][where] if rows and len(rows[0]) > where else "unknown error"
            raise FluxResultError(message)
        yield datatypes, header, rows


def _tables(text: str) -> Iterator[tuple[list[str], list[str], list[list[str]]]]:
    datatypes: list[str] | None = None
    header: list[str] | None = None
    rows: list[list[str]] = []
    for row in csv.reader(io.StringIO(text)):
        if not row or not any(row):
            if datatypes is not None and header is not None:
                yield datatypes, header, rows
            datatypes, header, rows = None, None, []
            continue
        if row[0] == "#datatype":
            if datatypes is not None and header is not None:
                yield datatypes, header, rows
            datatypes, header, rows = row, None, []
        elif row[0].startswith("#"):
            continue
        elif datatypes is not None and header is None:
            header = row
        elif header is not None:
            rows.append(row)
    if datatypes is not None and header is not None:
        yield datatypes, header, rows


def points_from_csv(
    text: str, *, tags: tuple[str, ...] = (), text_suffix: str | None = None
) -> list[dict[str, Any]]:
    """``[{"ts": "...", "temperature_c": 68.1}]``: numeric columns (and the string columns
    named in ``tags`` or ending in ``text_suffix``) only, empty cells left out."""
    points: list[dict[str, Any]] = []
    for datatypes, header, rows in csv_tables(text):
        try:
            time_index = header.index(_TIME_COLUMN)
        except ValueError:
            continue
        columns = [
            (i, name, _NUMERIC[datatypes[i]])
            for i, name in enumerate(header)
            if i < len(datatypes)
            and datatypes[i] in _NUMERIC
            and not name.startswith("_")
            and name != "table"
        ]
        columns += [
            (i, name, str)
            for i, name in enumerate(header)
            if name in tags or (text_suffix is not None and name.endswith(text_suffix))
        ]
        for row in rows:
            point: dict[str, Any] = {"ts": normalize_rfc3339(row[time_index])}
            for i, name, convert in columns:
                cell = row[i]
                if cell:
                    point[name] = convert(cell)
            points.append(point)
    return points
