"""Alarm thresholds, as they travel on the compacted thresholds topic.

One record holds every rule of one sensor of one machine; its key is
``"<machine_id>/<sensor>"``. ``machine_id`` ``"*"`` is the default for every machine that
has no record of its own for that sensor (a machine's own record replaces the default for
that sensor whole, it is not merged with it). A tombstone (empty value) deletes a record,
so the sensor falls back to the default.

The API writes whole records (a ``PATCH`` is merged by the API before it produces); the
pipeline keeps the latest record per key and applies it to the next reading.

Rule names, as they appear in alarm ids (``42:temperature_c:high``): the limit kinds
``high_high``, ``high``, ``low``, ``low_low``, and ``rate_of_change`` and ``stale``.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from contracts.alarms import Severity
from contracts.codec import decode_model, encode_model
from contracts.errors import ContractError
from contracts.patterns import SensorName, check_machine_id

LimitKind = Literal["high_high", "high", "low", "low_low"]
LIMIT_KINDS: tuple[LimitKind, ...] = ("high_high", "high", "low", "low_low")
ALL_MACHINES = "*"


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _machine_or_all(text: str) -> str:
    return text if text == ALL_MACHINES else check_machine_id(text)


Finite = Annotated[float, AfterValidator(_finite)]
Seconds = Annotated[float, Field(ge=0, le=86_400)]


class Limit(BaseModel):
    """One limit of a sensor (ISA-18.2): active beyond ``value``, cleared only once the value
    is back by more than ``deadband``; the condition must hold ``on_delay_s`` before the
    alarm raises and be gone ``off_delay_s`` before it clears. ``realarm_delay_s`` is
    chattering suppression: after a clear, the same alarm raises again only once the
    condition has lasted that long."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: Finite
    deadband: Annotated[float, Field(ge=0)] = 0.0
    severity: Severity = "high"
    on_delay_s: Seconds = 0.0
    off_delay_s: Seconds = 0.0
    realarm_delay_s: Seconds = 0.0
    enabled: bool = True
    message: Annotated[str, Field(max_length=200)] = ""


class RateOfChangeLimit(BaseModel):
    """Active while the value changes faster than ``per_s`` units per second (either way)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_s: Annotated[float, Field(gt=0)]
    severity: Severity = "medium"
    on_delay_s: Seconds = 0.0
    off_delay_s: Seconds = 0.0
    enabled: bool = True


class SensorThresholds(BaseModel):
    """Every alarm rule of one sensor of one machine (or of all machines, ``"*"``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    machine_id: Annotated[str, AfterValidator(_machine_or_all)]
    sensor: SensorName
    limits: dict[LimitKind, Limit] = Field(default_factory=dict)
    rate_of_change: RateOfChangeLimit | None = None
    # Stale data: no good value of this sensor for this long raises a ``stale`` alarm.
    stale_after_s: Annotated[float, Field(gt=0, le=86_400)] | None = None
    stale_severity: Severity = "medium"
    updated_by: Annotated[str, Field(max_length=128)] = ""
    updated_ts_ms: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        """high_high >= high > low >= low_low, for the limits that are set."""
        order = [(k, self.limits[k].value) for k in LIMIT_KINDS if k in self.limits]
        for (upper, hi), (lower, lo) in itertools.pairwise(order):
            if hi < lo:
                raise ValueError(f"limits: {upper} ({hi}) must not be below {lower} ({lo})")
        return self

    def key(self) -> bytes:
        return thresholds_key(self.machine_id, self.sensor)

    def encode(self) -> bytes:
        return encode_model(self)


def thresholds_key(machine_id: str, sensor: str) -> bytes:
    return f"{machine_id}/{sensor}".encode()


def parse_thresholds_key(key: bytes) -> tuple[str, str]:
    """``b"42/temperature_c"`` -> ``("42", "temperature_c")``; raise :class:`ContractError`."""
    machine_id, sep, sensor = key.decode("utf-8", "replace").rpartition("/")
    if not sep:
        raise ContractError(f"thresholds key: {key!r} is not '<machine_id>/<sensor>'")
    return machine_id, sensor


def decode_thresholds(data: bytes) -> SensorThresholds:
    return decode_model(SensorThresholds, data, "thresholds")


def default_thresholds() -> list[SensorThresholds]:
    """The seed's rule, for every machine: temperature above 85 °C is a high-severity alarm
    (cleared below 84 °C)."""
    return [
        SensorThresholds(
            machine_id=ALL_MACHINES,
            sensor="temperature_c",
            limits={"high": Limit(value=85.0, deadband=1.0, severity="high")},
        )
    ]
