"""The seed's flat reading (``{"machine_id": 42, "temperature_c": 67.5}``), as only the API
accepts it, bounded: time within what InfluxDB keeps, a bounded number of sensors, bounded
text.

What InfluxDB keeps: times from its earliest (1677-09-21) on, and, when the telemetry bucket
has a retention (``MILLSTREAM_INFLUX_RETENTION_DAYS`` > 0), no older than that; InfluxDB
would drop anything else, so it is refused here instead, naming the setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.errors import ContractError
from contracts.readings import Reading, normalize_machine_id, quality_map, sensor_value
from contracts.settings import TELEMETRY_RETENTION_VAR
from contracts.timefmt import format_ts

# Keys of the flat shape that describe the reading instead of carrying a sensor value.
FLAT_META = frozenset(("machine_id", "timestamp", "ts", "seq", "plant", "line", "quality"))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_SEQ_MAX = 2**63 - 1
# InfluxDB's earliest time (its minimum, -2**63 + 2 ns), rounded up to a millisecond.
INFLUX_MIN_MS = -9_223_372_036_854
FUTURE_VAR = "MILLSTREAM_API_READING_MAX_FUTURE_S"


@dataclass(frozen=True, slots=True)
class FlatLimits:
    """Bounds on one reading: its time within ``[now - max_age_s, now + max_future_s]``;
    ``max_age_s`` None (a telemetry bucket kept forever) bounds it by InfluxDB's range."""

    max_age_s: float | None = None
    max_future_s: float = 3_600
    max_sensors: int = 256
    max_text: int = 128


def machine_id_json(machine_id: str) -> int | str:
    """A machine id as JSON shows it: numeric ids as numbers (``42``), others as strings.

    Only an id that is exactly the decimal form of its number is shown as a number, so
    ``"0042"`` stays ``"0042"`` and is never mistaken for machine ``42``: each id has one
    form, the same in every response, frame and URL.
    """
    if machine_id.isdigit() and len(machine_id) < 16 and str(int(machine_id)) == machine_id:
        return int(machine_id)
    return machine_id


def with_machine_id_json(view: dict[str, Any]) -> dict[str, Any]:
    """``view`` with its ``machine_id`` as :func:`machine_id_json` shows it."""
    view["machine_id"] = machine_id_json(view["machine_id"])
    return view


def _timestamp(raw: object, name: str, *, received_ms: int, limits: FlatLimits) -> int:
    if raw is None:
        return received_ms
    if not isinstance(raw, str) or len(raw) > 64:
        raise ContractError(f"{name}: must be an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ts_ms = (moment - _EPOCH) // _ONE_MS
    except (ValueError, OverflowError) as exc:
        raise ContractError(f"{name}: {raw!r} is not an ISO-8601 timestamp") from exc
    latest = received_ms + int(limits.max_future_s * 1000)
    if ts_ms > latest:
        raise ContractError(
            f"{name}: {raw!r} is more than {limits.max_future_s:g} s ahead of the server's "
            f"clock (latest accepted {format_ts(latest)}, {FUTURE_VAR})"
        )
    if ts_ms < INFLUX_MIN_MS:
        raise ContractError(
            f"{name}: {raw!r} is before {format_ts(INFLUX_MIN_MS)}, the earliest time "
            "InfluxDB stores"
        )
    if limits.max_age_s is not None and ts_ms < received_ms - int(limits.max_age_s * 1000):
        earliest = received_ms - int(limits.max_age_s * 1000)
        raise ContractError(
            f"{name}: {raw!r} is older than the telemetry bucket keeps "
            f"({TELEMETRY_RETENTION_VAR}={limits.max_age_s / 86_400:g} days: from "
            f"{format_ts(earliest)} on), so InfluxDB would drop it; to import older history, "
            f"raise {TELEMETRY_RETENTION_VAR} (0 keeps readings forever) and restart the stack"
        )
    return int(ts_ms)


def _text(obj: dict[str, Any], name: str, limits: FlatLimits) -> str:
    raw = obj.get(name, "")
    if not isinstance(raw, str):
        raise ContractError(f"{name}: must be a string")
    if len(raw) > limits.max_text:
        raise ContractError(f"{name}: at most {limits.max_text} characters")
    return raw


def _seq(obj: dict[str, Any]) -> int:
    raw = obj.get("seq", 0)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= _SEQ_MAX:
        raise ContractError(f"seq: must be an integer from 0 to {_SEQ_MAX}")
    return raw


def reading_from_flat(
    obj: object, *, source: str, received_ms: int, limits: FlatLimits | None = None
) -> Reading:
    """Build a reading from the flat shape ``{"machine_id": 42, "temperature_c": 67.5, ...}``.

    A nested ``"sensors"`` object is merged into the values; ``timestamp`` defaults to the
    time the reading was received. Raise :class:`ContractError` naming the field.
    """
    limits = limits or FlatLimits()
    if not isinstance(obj, dict):
        raise ContractError("reading: must be a JSON object")
    if "machine_id" not in obj:
        raise ContractError("machine_id: field required")
    machine_id = normalize_machine_id(obj["machine_id"])
    name = "timestamp" if "timestamp" in obj else "ts"
    ts_ms = _timestamp(obj.get(name), name, received_ms=received_ms, limits=limits)
    values: dict[str, float] = {}
    for key, raw in obj.items():
        if key in FLAT_META:
            continue
        if key == "sensors" and isinstance(raw, dict):
            for sub, sub_raw in raw.items():
                values[sub] = sensor_value(sub, sub_raw)
        else:
            values[key] = sensor_value(key, raw)
        if len(values) > limits.max_sensors:
            raise ContractError(f"reading: more than {limits.max_sensors} sensor values")
    if not values:
        raise ContractError('reading: carries no sensor value (e.g. "temperature_c": 67.5)')
    return Reading(
        machine_id=machine_id,
        ts_ms=ts_ms,
        values=values,
        quality=quality_map(obj.get("quality"), values),
        seq=_seq(obj),
        source=source,
        plant=_text(obj, "plant", limits),
        line=_text(obj, "line", limits),
    )
