"""The threshold backtest: one sensor's raw history from the telemetry bucket, replayed
through the alarm engine's own code (:mod:`alarmrules.backtest`) with a proposed rule and
with the rule in force."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from alarmrules.backtest import BacktestResult, replay
from api.errors import HistoryUnavailableError, InvalidInputError
from api.flat import machine_id_json
from api.history.csvrows import FluxResultError
from api.history.flux import flux_string, flux_time
from api.history.reader import HistoryReader
from contracts.influx_schema import QUALITY_SUFFIX, READINGS
from contracts.readings import Quality, Reading
from contracts.thresholds import SensorThresholds
from contracts.timefmt import format_ts

logger = logging.getLogger(__name__)

MAX_RANGE_MS = 31 * 86_400_000
MAX_READINGS = 2_000_000
KEEP_EVENTS = 500


@dataclass(frozen=True, slots=True)
class BacktestRange:
    machine_id: str
    sensor: str
    start: datetime
    stop: datetime


def history_flux(*, bucket: str, query: BacktestRange) -> str:
    """The sensor's values and its non-good qualities: ``_time``, ``_field``, ``_value``,
    at most ``MAX_READINGS + 1`` rows per series."""
    quality = query.sensor + QUALITY_SUFFIX
    return "\n".join(
        [
            f"from(bucket: {flux_string(bucket)})",
            f"  |> range(start: {flux_time(query.start)}, stop: {flux_time(query.stop)})",
            f"  |> filter(fn: (r) => r._measurement == {flux_string(READINGS)}"
            f" and r.machine_id == {flux_string(query.machine_id)}"
            f" and (r._field == {flux_string(query.sensor)}"
            f" or r._field == {flux_string(quality)}))",
            f"  |> limit(n: {MAX_READINGS + 1})",
            '  |> keep(columns: ["_time", "_field", "_value"])',
        ]
    )


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def readings_from_csv(text: str, *, machine_id: str, sensor: str) -> list[Reading]:
    """Rows of :func:`history_flux` -> one reading per time, oldest first."""
    values: dict[int, float] = {}
    quality: dict[int, str] = {}
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row or not any(row) or row[0].startswith("#"):
            header = None
            continue
        if header is None:
            header = row
            if "error" in header and "_time" not in header:
                raise FluxResultError("query failed mid-result")
            i_time, i_field, i_value = (header.index(c) for c in ("_time", "_field", "_value"))
            continue
        ts = _ms(row[i_time])
        if row[i_field] == sensor:
            values[ts] = float(row[i_value])
        else:
            quality[ts] = row[i_value]
    out = []
    for ts in sorted(values.keys() | quality.keys()):
        value = values.get(ts)
        q = quality.get(ts)
        out.append(
            Reading(
                machine_id=machine_id,
                ts_ms=ts,
                values={sensor: value} if value is not None else {},
                quality={sensor: cast(Quality, q)} if q else {},
            )
        )
    return out


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
) -> dict[str, Any]:
    """Both replays over the same readings; the answer of the backtest route."""
    span_ms = (query.stop - query.start).total_seconds() * 1000
    if span_ms <= 0:
        raise InvalidInputError("stop: must be after start")
    if span_ms > MAX_RANGE_MS:
        raise InvalidInputError("start: the range may span at most 31 days")
    started = time.perf_counter()
    text = await history.query_csv(history_flux(bucket=history.bucket, query=query))
    try:
        readings = await asyncio.to_thread(
            readings_from_csv, text, machine_id=query.machine_id, sensor=query.sensor
        )
    except FluxResultError as exc:
        raise HistoryUnavailableError(f"influxdb: query failed ({exc})") from exc
    if len(readings) > MAX_READINGS:
        raise InvalidInputError(
            f"start: the range holds more than {MAX_READINGS} readings of {query.sensor}; "
            "choose a shorter range"
        )
    until_ms = int(query.stop.astimezone(UTC).timestamp() * 1000)

    def side(rule: SensorThresholds | None) -> BacktestResult:
        return replay(
            machine_id=query.machine_id,
            sensor=query.sensor,
            rule=rule,
            readings=readings,
            until_ms=until_ms,
            keep=KEEP_EVENTS,
        )

    def both() -> tuple[BacktestResult, BacktestResult]:
        return side(proposed), side(in_force)

    new, old = await asyncio.to_thread(both)
    logger.info(
        "backtest machine_id=%s sensor=%s readings=%d proposed=%d in_force=%d elapsed_ms=%.0f",
        query.machine_id,
        query.sensor,
        len(readings),
        new.raised,
        old.raised,
        (time.perf_counter() - started) * 1000,
    )
    return {
        "machine_id": machine_id_json(query.machine_id),
        "sensor": query.sensor,
        "start": format_ts(int(query.start.timestamp() * 1000)),
        "stop": format_ts(until_ms),
        "readings": len(readings),
        "proposed": side_view(new),
        "in_force": side_view(old),
    }
