"""A historian export, row by row, as the flat readings ``POST /api/readings`` takes.

Two formats:

- CSV as ``millstream query --format csv`` writes it: a header naming a time column
  (``ts``, ``timestamp``, ``time`` or ``_time``; RFC 3339, UTC when no offset), optionally
  ``machine_id``, ``plant`` and ``line``, and one column per sensor; ``<sensor>_quality``
  columns carry a value's quality; empty cells are left out.
- InfluxDB line protocol of the ``readings`` measurement (contracts.influx_schema): tags
  ``machine_id``, ``plant``, ``line``; one field per sensor (booleans become 1 and 0);
  string fields ``<sensor>_quality``; the time in s, ms, us or ns (told, or guessed from
  its size).

Every row is checked here with the contracts' own rules, so a bad row is reported with its
line number before anything is sent.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from contracts.errors import ContractError
from contracts.influx_schema import QUALITY_SUFFIX, READINGS, READINGS_TAGS
from contracts.patterns import check_machine_id
from contracts.readings import QUALITIES, sensor_value
from contracts.timefmt import format_ts, parse_ts

Format = Literal["csv", "lp"]
Precision = Literal["auto", "s", "ms", "us", "ns"]
TIME_COLUMNS = ("ts", "timestamp", "time", "_time")
_TO_MS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}


class RowError(ContractError):
    """A row that cannot be imported; the text starts with its line number."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(f"line {line}: {detail}")
        self.line = line


@dataclass(frozen=True, slots=True)
class Defaults:
    """What a row without these columns or tags gets (``--machine``, ``--plant``, ``--line``)."""

    machine: str | None = None
    plant: str = ""
    line: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # 1-based line number in the file
    reading: dict[str, Any]  # the flat reading


def detect_format(first_line: str) -> Format:
    """Line protocol starts with the measurement: ``readings,`` or ``readings ``."""
    head = first_line.lstrip()
    return "lp" if head.startswith((READINGS + ",", READINGS + " ", "#")) else "csv"


def _flat(
    machine: str | None,
    ts_ms: int,
    values: dict[str, float],
    quality: dict[str, str],
    plant: str,
    line: str,
) -> dict[str, Any]:
    if not machine:
        raise ContractError("machine_id: missing (add the column or tag, or pass --machine)")
    check_machine_id(machine)
    if not values:
        raise ContractError("no sensor value in this row")
    for name, q in quality.items():
        if name not in values:
            raise ContractError(f"{name}{QUALITY_SUFFIX}: no {name} value in this row")
        if q not in QUALITIES:
            raise ContractError(f"{name}{QUALITY_SUFFIX}: {q!r} is not one of {sorted(QUALITIES)}")
    reading: dict[str, Any] = {
        "machine_id": int(machine) if machine.isdigit() and len(machine) < 16 else machine,
        "timestamp": format_ts(ts_ms),
        **values,
    }
    if quality:
        reading["quality"] = quality
    if plant:
        reading["plant"] = plant
    if line:
        reading["line"] = line
    return reading


def csv_rows(lines: Iterable[str], defaults: Defaults) -> Iterator[Row]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip() for h in header]
    time_at = next((names.index(c) for c in TIME_COLUMNS if c in names), None)
    if time_at is None:
        raise RowError(1, f"header: no time column (one of {', '.join(TIME_COLUMNS)})")
    meta = {"machine_id", "plant", "line", names[time_at]}
    for number, cells in enumerate(reader, start=2):
        if not cells or not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            raise RowError(number, f"{len(cells)} cells, but the header names {len(names)}")
        row = dict(zip(names, cells, strict=True))
        try:
            ts_ms = _csv_time(row[names[time_at]])
            values: dict[str, float] = {}
            quality: dict[str, str] = {}
            for name, cell in row.items():
                cell = cell.strip()
                if name in meta or not cell:
                    continue
                if name.endswith(QUALITY_SUFFIX):
                    quality[name.removesuffix(QUALITY_SUFFIX)] = cell
                else:
                    values[name] = sensor_value(name, _number(cell, name))
            reading = _flat(
                row.get("machine_id", "").strip() or defaults.machine,
                ts_ms,
                values,
                quality,
                row.get("plant", "").strip() or defaults.plant,
                row.get("line", "").strip() or defaults.line,
            )
        except ContractError as exc:
            raise RowError(number, str(exc)) from None
        yield Row(number, reading)


def _csv_time(text: str) -> int:
    try:
        return parse_ts(text.strip())
    except (ValueError, OverflowError):
        raise ContractError(f"time: {text!r} is not an RFC 3339 time") from None


def _number(cell: str, name: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise ContractError(f"{name}: {cell!r} is not a number") from None


def to_ms(stamp: int, precision: Precision) -> int:
    if precision == "auto":
        size = abs(stamp)
        precision = (
            "ns" if size > 10**17 else "us" if size > 10**14 else ("ms" if size > 10**11 else "s")
        )
    return round(stamp * _TO_MS[precision])


def lp_rows(lines: Iterable[str], defaults: Defaults, precision: Precision) -> Iterator[Row]:
    from cli.lineprotocol import parse_line

    for number, text in enumerate(lines, start=1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        try:
            point = parse_line(text)
            if point.measurement != READINGS:
                raise ContractError(
                    f"measurement {point.measurement!r}: only {READINGS!r} can be imported"
                )
            unknown = set(point.tags) - set(READINGS_TAGS)
            if unknown:
                raise ContractError(
                    f"tag {sorted(unknown)[0]!r}: readings carry only {', '.join(READINGS_TAGS)}"
                )
            if point.timestamp is None:
                raise ContractError("no timestamp (a historian row needs its time)")
            values: dict[str, float] = {}
            quality: dict[str, str] = {}
            for name, raw in point.fields.items():
                if isinstance(raw, str):
                    if not name.endswith(QUALITY_SUFFIX):
                        raise ContractError(f"field {name}: text values cannot be imported")
                    quality[name.removesuffix(QUALITY_SUFFIX)] = raw
                else:
                    values[name] = sensor_value(name, float(raw))
            reading = _flat(
                point.tags.get("machine_id") or defaults.machine,
                to_ms(point.timestamp, precision),
                values,
                quality,
                point.tags.get("plant") or defaults.plant,
                point.tags.get("line") or defaults.line,
            )
        except ContractError as exc:
            raise RowError(number, str(exc)) from None
        yield Row(number, reading)
