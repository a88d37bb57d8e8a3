"""Window aggregates, as the pipeline emits them to the aggregates topic (key = machine id).

One record per machine per closed window, with statistics per sensor. ``window`` labels
the window kind: ``"1m"`` for a tumbling minute, ``"5m_1m"`` for five minutes advancing
every minute (see :func:`window_label`); it is also the ``window`` tag in InfluxDB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from contracts.codec import decode_object
from contracts.errors import ContractError
from contracts.patterns import check_machine_id, check_sensor_name
from contracts.timefmt import format_ts, parse_ts


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole != seconds or whole <= 0:
        raise ContractError(f"window: {seconds!r} s is not a whole, positive number of seconds")
    for unit, size in (("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def window_label(size_s: float, step_s: float | None = None) -> str:
    """``window_label(60)`` -> ``"1m"``; ``window_label(300, 60)`` -> ``"5m_1m"``."""
    if step_s is None or step_s == size_s:
        return _duration(size_s)
    return f"{_duration(size_s)}_{_duration(step_s)}"


@dataclass(frozen=True, slots=True)
class SensorStats:
    count: int
    min: float
    max: float
    mean: float
    last: float
    stddev: float
    # The values added up; None in records of workers older than the field (then
    # :attr:`total` is mean x count).
    sum: float | None = None

    @property
    def total(self) -> float:
        return self.mean * self.count if self.sum is None else self.sum

    def to_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "last": self.last,
            "stddev": self.stddev,
        }
        if self.sum is not None:
            out["sum"] = self.sum
        return out


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    machine_id: str
    window: str
    start_ms: int
    end_ms: int
    sensors: dict[str, SensorStats]
    plant: str = ""
    line: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine_id": self.machine_id,
            "plant": self.plant,
            "line": self.line,
            "window": self.window,
            "start": format_ts(self.start_ms),
            "end": format_ts(self.end_ms),
            "sensors": {name: s.to_dict() for name, s in self.sensors.items()},
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def key(self) -> bytes:
        return self.machine_id.encode()


def _stats(name: str, raw: Any) -> SensorStats:
    check_sensor_name(name)
    if not isinstance(raw, dict):
        raise ContractError(f"sensors.{name}: must be an object")
    count = raw.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ContractError(f"sensors.{name}.count: must be a positive integer")
    try:
        nums = {k: float(raw[k]) for k in ("min", "max", "mean", "last", "stddev")}
    except KeyError as exc:
        raise ContractError(f"sensors.{name}.{exc.args[0]}: field required") from exc
    except (TypeError, ValueError) as exc:
        raise ContractError(f"sensors.{name}: statistics must be numbers") from exc
    if "sum" in raw:  # older workers' records lack it
        try:
            nums["sum"] = float(raw["sum"])
        except (TypeError, ValueError) as exc:
            raise ContractError(f"sensors.{name}.sum: must be a number") from exc
    for key, value in nums.items():
        if not math.isfinite(value):
            raise ContractError(f"sensors.{name}.{key}: must be finite")
    return SensorStats(count=count, **nums)


def decode_aggregate(data: bytes) -> WindowAggregate:
    obj = decode_object(data, "aggregate")
    try:
        sensors = obj["sensors"]
        if not isinstance(sensors, dict) or not sensors:
            raise ContractError("sensors: required, a non-empty object")
        return WindowAggregate(
            machine_id=check_machine_id(str(obj["machine_id"])),
            window=str(obj["window"]),
            start_ms=parse_ts(obj["start"]),
            end_ms=parse_ts(obj["end"]),
            sensors={name: _stats(name, raw) for name, raw in sensors.items()},
            plant=str(obj.get("plant", "")),
            line=str(obj.get("line", "")),
        )
    except KeyError as exc:
        raise ContractError(f"{exc.args[0]}: field required") from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ContractError):
            raise
        raise ContractError(f"aggregate: {exc}") from exc
