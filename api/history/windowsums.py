"""Points of a mean or sum from each sensor's windowed sums and counts.

The aggregates Flux of a ``mean`` or ``sum`` (:func:`api.history.sources.aggregated_flux`)
returns, per sensor, two tables of window ends: the sum of the minutes' ``sum`` fields and
the sum of their ``count`` fields, as InfluxDB's storage engine windowed them; and a
one-row table, ``unsummed``, of how many minutes in range lack their ``sum``. Setting the
sums and counts side by side here (a dict per sensor) instead of in Flux (a pivot per
sensor, then one across sensors) spares the Flux engine most of its work for a long range.

The points are the ones the Flux pivot would give: one per window end any sensor has,
oldest first, at most ``limit`` + 1 of them; a sensor's value is its sum (``sum``), or its
sum over its count, both as floats (``mean``), and a sensor missing either is left out;
sensors in name order, the order of the pivot's columns.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from api.history.csvrows import csv_tables, normalize_rfc3339

# The columns of a windowed table, and of the count of minutes without a sum.
_TIME, _VALUE, _FIELD, _SENSOR = "_time", "_value", "_field", "sensor"
UNSUMMED = "unsummed"


def ieee_divide(num: float, den: float) -> float:
    """``num / den`` as IEEE 754 (and Flux) divide: by zero is +-inf, or NaN for 0/0."""
    try:
        return num / den
    except ZeroDivisionError:
        if num == 0 or math.isnan(num):
            return math.nan
        return math.copysign(math.inf, num) * math.copysign(1.0, den)


def _time_order(text: str) -> str:
    """A key that sorts InfluxDB's UTC RFC 3339 times (``...T17:43:00.0005Z``) in time order."""
    fraction = text[20:-1] if len(text) > 20 and text[19] == "." else ""
    return text[:19] + fraction.ljust(9, "0")


@dataclass(slots=True)
class WindowSums:
    """What one answer holds: ``unsummed`` minutes, and per sensor its sums and counts by
    window end (InfluxDB's text of the time; ``None`` for an empty cell)."""

    unsummed: int = 0
    sums: dict[str, dict[str, float | None]] = field(default_factory=dict)
    counts: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def points(self, *, fn: str, limit: int) -> list[dict[str, Any]]:
        """``[{"ts": ..., "<sensor>": value}]``, at most ``limit`` + 1 of them."""
        values: list[tuple[str, dict[str, float]]] = []
        for name in sorted(self.sums.keys() | self.counts.keys()):
            sums, counts = self.sums.get(name, {}), self.counts.get(name, {})
            if fn == "sum":
                of = {end: total for end, total in sums.items() if total is not None}
            else:
                of = {
                    end: ieee_divide(total, count)
                    for end, total in sums.items()
                    if total is not None and (count := counts.get(end)) is not None
                }
            values.append((name, of))
        ends = set().union(*self.sums.values(), *self.counts.values())
        points: list[dict[str, Any]] = []
        for end in sorted(ends, key=_time_order)[: limit + 1]:
            point: dict[str, Any] = {"ts": normalize_rfc3339(end)}
            for name, of in values:
                if (value := of.get(end)) is not None:
                    point[name] = value
            points.append(point)
        return points


def window_sums(text: str) -> WindowSums:
    """The sums, counts and ``unsummed`` count in the annotated CSV of an aggregates query
    for a mean or sum. :class:`~api.history.csvrows.FluxResultError` when InfluxDB
    reported an error in it.

    Thousands of rows for a long range: each block of rows under one header is split on
    commas at once (through :mod:`csv` if it has a quote) and each table's times and values
    go into their dict in one call, rather than row by row."""
    found = WindowSums()
    for header, lines in _blocks(text):
        if "error" in header and _TIME not in header:
            for _ in csv_tables(text):  # raises the error it reports
                pass
        if UNSUMMED in header:
            where = header.index(UNSUMMED)
            found.unsummed += sum(int(row[where]) for row in _split(lines) if row[where])
        if not {_TIME, _VALUE, _FIELD, _SENSOR} <= set(header):
            continue
        at, value, name, sensor = (header.index(c) for c in (_TIME, _VALUE, _FIELD, _SENSOR))
        for (table_sensor, table_field), rows in groupby(_split(lines), itemgetter(sensor, name)):
            into = found.sums if table_field == "sum" else found.counts
            into.setdefault(table_sensor, {}).update(
                (row[at], float(row[value]) if row[value] else None) for row in rows
            )
    return found


def _blocks(text: str) -> Iterator[tuple[list[str], list[str]]]:
    """``(header, data lines)`` per header of the annotated CSV (``#`` lines left out)."""
    header: list[str] | None = None
    lines: list[str] = []
    expect_header = False
    for line in text.splitlines():
        if not line:
            continue
        if line[0] == "#":
            if line.startswith("#datatype"):
                if header is not None:
                    yield header, lines
                header, lines, expect_header = None, [], True
        elif expect_header:
            header, expect_header = _split([line])[0], False
        else:
            lines.append(line)
    if header is not None:
        yield header, lines


def _split(lines: list[str]) -> list[list[str]]:
    """Each CSV line's cells (window ends, numbers and sensor names need no quotes)."""
    if any('"' in line for line in lines):
        return list(csv.reader(lines))
    return [line.split(",") for line in lines]
