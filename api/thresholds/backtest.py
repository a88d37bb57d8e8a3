"""The threshold backtest: one sensor's raw history from the telemetry bucket, replayed
through the alarm engine's own code (:mod:`alarmrules.backtest`) with a proposed rule and
with the rule in force."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import logging
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from alarmrules.backtest import BacktestResult, replay_each
from api.errors import HistoryUnavailableError, InvalidInputError
from api.flat import machine_id_json
from api.history.csvrows import FluxResultError
from api.history.flux import flux_string, flux_time
from api.history.reader import HistoryReader
from api.thresholds.pool import BacktestPool
from contracts.influx_schema import QUALITY_SUFFIX, READINGS
from contracts.readings import Quality, Reading
from contracts.thresholds import SensorThresholds
from contracts.timefmt import datetime_ms, format_ts

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class BacktestLimits:
    """What one backtest may take on; a range beyond them is refused before it is fetched."""

    # Readings of the sensor in the range (ApiSettings.api_backtest_max_readings).
    max_readings: int
    max_range_days: int = 31
    # Raise events listed per side; the counts cover them all.
    keep_events: int = 500


@dataclass(frozen=True, slots=True)
class BacktestRange:
    machine_id: str
    sensor: str
    start: datetime
    stop: datetime


def _selection(bucket: str, query: BacktestRange, fields: tuple[str, ...]) -> list[str]:
    matches = " or ".join(f"r._field == {flux_string(f)}" for f in fields)
    return [
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {flux_time(query.start)}, stop: {flux_time(query.stop)})",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(READINGS)}"
        f" and r.machine_id == {flux_string(query.machine_id)} and ({matches}))",
    ]


def count_flux(*, bucket: str, query: BacktestRange) -> str:
    """How many values of the sensor the range holds: one row, column ``_value``."""
    lines = _selection(bucket, query, (query.sensor,))
    return "\n".join([*lines, "  |> count()", "  |> group()", "  |> sum()"])


def history_flux(*, bucket: str, query: BacktestRange, max_readings: int) -> str:
    """The sensor's values and its non-good qualities: ``_time``, ``_field``, ``_value``,
    at most ``max_readings + 1`` rows per series."""
    lines = _selection(bucket, query, (query.sensor, query.sensor + QUALITY_SUFFIX))
    return "\n".join(
        [
            *lines,
            f"  |> limit(n: {max_readings + 1})",
            '  |> keep(columns: ["_time", "_field", "_value"])',
        ]
    )


def count_from_csv(text: str) -> int:
    """The ``_value`` of the one row :func:`count_flux` answers (0 when no row)."""
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row or row[0].startswith("#"):
            header = None
        elif header is None:
            header = row
            if "error" in header and "_value" not in header:
                raise FluxResultError("query failed mid-result")
        else:
            return int(row[header.index("_value")])
    return 0


@dataclass(slots=True)
class SensorSeries:
    """One sensor's history, compact: times (ms) and values in arrays, the few non-good
    qualities by time. A week at 1 Hz is about 10 MB here, where Reading objects would
    take hundreds."""

    times: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))
    quality: dict[int, str] = field(default_factory=dict)
    # Times that carry only a quality (no value), kept apart so that values stay dense.
    quality_only: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times) + len(self.quality_only)

    def readings(self, machine_id: str, sensor: str) -> Iterator[Reading]:
        """The series as readings, oldest first, built one at a time."""
        quality = self.quality
        alone = sorted(self.quality_only)
        k = 0
        for ts, value in zip(self.times, self.values, strict=True):
            while k < len(alone) and alone[k] < ts:
                yield _reading(machine_id, sensor, alone[k], None, quality[alone[k]])
                k += 1
            yield _reading(machine_id, sensor, ts, value, quality.get(ts))
        for ts in alone[k:]:
            yield _reading(machine_id, sensor, ts, None, quality[ts])


def _reading(
    machine_id: str, sensor: str, ts: int, value: float | None, quality: str | None
) -> Reading:
    return Reading(
        machine_id=machine_id,
        ts_ms=ts,
        values={sensor: value} if value is not None else {},
        quality={sensor: cast(Quality, quality)} if quality else {},
    )


class _Clock:
    """RFC 3339 UTC times (``2026-12-07T02:50:01.5Z``) to epoch ms, the date and minute
    converted once per minute: a week of seconds parses in a fraction of the time
    ``datetime.fromisoformat`` takes."""

    def __init__(self) -> None:
        self._minutes: dict[str, int] = {}

    def ms(self, text: str) -> int:
        minute = text[:16]
        base = self._minutes.get(minute)
        if base is None:
            moment = datetime.fromisoformat(minute + ":00+00:00")
            base = self._minutes[minute] = int(moment.timestamp()) * 1000
        ms = base + int(text[17:19]) * 1000
        if text[19] == ".":
            ms += int(text[20:-1][:3].ljust(3, "0"))
        return ms


def series_from_csv(text: str, *, sensor: str) -> SensorSeries:
    """Rows of :func:`history_flux` -> the sensor's series, sorted by time."""
    series = SensorSeries()
    clock = _Clock()
    times, values = series.times, series.values
    ordered = True
    header: list[str] | None = None
    i_time = i_field = i_value = 0
    for row in csv.reader(io.StringIO(text)):
        if not row or row[0].startswith("#"):
            header = None
            continue
        if header is None:
            header = row
            if "error" in header and "_time" not in header:
                raise FluxResultError("query failed mid-result")
            i_time, i_field, i_value = (header.index(c) for c in ("_time", "_field", "_value"))
            continue
        ts = clock.ms(row[i_time])
        if row[i_field] == sensor:
            if times and ts <= times[-1]:
                ordered = False
            times.append(ts)
            values.append(float(row[i_value]))
        else:
            series.quality[ts] = row[i_value]
    if not ordered:  # several series (the machine moved plant or line): merge by time
        pairs = sorted(zip(times, values, strict=True))
        series.times = array("q", (t for t, _ in pairs))
        series.values = array("d", (v for _, v in pairs))
    seen = set(series.times)
    series.quality_only = [t for t in series.quality if t not in seen]
    return series


def replay_csv(
    text: str,
    *,
    machine_id: str,
    sensor: str,
    rules: list[SensorThresholds | None],
    until_ms: int,
    keep_events: int,
) -> tuple[int, list[BacktestResult]]:
    """The CSV of :func:`history_flux` parsed and replayed against each rule: the number
    of readings and a result per rule. Module-level, so a process pool can run it."""
    series = series_from_csv(text, sensor=sensor)
    results = replay_each(
        machine_id=machine_id,
        sensor=sensor,
        rules=rules,
        readings=series.readings(machine_id, sensor),
        until_ms=until_ms,
        keep=keep_events,
    )
    return len(series), results


def side_view(result: BacktestResult) -> dict[str, Any]:
    return {
        "raised": result.raised,
        "by_rule": dict(sorted(result.by_rule.items())),
        "time_in_alarm_s": round(result.time_in_alarm_ms / 1000, 3),
        "raised_at": [
            {"ts": format_ts(e.ts_ms), "rule": e.rule, "value": e.value}
            for e in result.raised_events
        ],
    }


async def run_backtest(
    history: HistoryReader,
    query: BacktestRange,
    *,
    proposed: SensorThresholds,
    in_force: SensorThresholds | None,
    limits: BacktestLimits,
    pool: BacktestPool | None = None,
) -> dict[str, Any]:
    """Both replays over the same readings, parsed and replayed in ``pool``'s process
    (None: a thread); the answer of the backtest route."""
    span_ms = (query.stop - query.start).total_seconds() * 1000
    if span_ms <= 0:
        raise InvalidInputError("start: must be before stop")
    if span_ms > limits.max_range_days * DAY_MS:
        raise InvalidInputError(f"start: the range may span at most {limits.max_range_days} days")
    until_ms = datetime_ms(query.stop)
    started = time.perf_counter()
    try:
        held = count_from_csv(
            await history.query_csv(count_flux(bucket=history.bucket, query=query))
        )
        if held > limits.max_readings:
            raise InvalidInputError(
                f"start: the range holds {held} readings of {query.sensor}, more than "
                f"{limits.max_readings}; choose a shorter range"
            )
        flux = history_flux(bucket=history.bucket, query=query, max_readings=limits.max_readings)
        text = await history.query_csv(flux)
        work = functools.partial(
            replay_csv,
            text,
            machine_id=query.machine_id,
            sensor=query.sensor,
            rules=[proposed, in_force],
            until_ms=until_ms,
            keep_events=limits.keep_events,
        )
        del text
        if pool is None:
            readings, results = await asyncio.to_thread(work)
        else:
            readings, results = await pool.run(work)
        new, old = results
    except FluxResultError as exc:
        raise HistoryUnavailableError(f"influxdb: query failed ({exc})") from exc
    logger.info(
        "backtest machine_id=%s sensor=%s readings=%d proposed=%d in_force=%d elapsed_ms=%.0f",
        query.machine_id,
        query.sensor,
        readings,
        new.raised,
        old.raised,
        (time.perf_counter() - started) * 1000,
    )
    return {
        "machine_id": machine_id_json(query.machine_id),
        "sensor": query.sensor,
        "start": format_ts(datetime_ms(query.start)),
        "stop": format_ts(until_ms),
        "readings": readings,
        "proposed": side_view(new),
        "in_force": side_view(old),
    }
