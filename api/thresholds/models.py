"""Request and response bodies of the thresholds routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.alarms import Severity
from contracts.patterns import SensorName
from contracts.thresholds import Limit, LimitKind, RateOfChangeLimit, SensorThresholds


class ThresholdsBody(BaseModel):
    """Every rule of one sensor (``PUT``): what is not given is off."""

    model_config = ConfigDict(extra="forbid")

    limits: dict[LimitKind, Limit] = Field(default_factory=dict)
    rate_of_change: RateOfChangeLimit | None = None
    stale_after_s: Annotated[float, Field(gt=0, le=86_400)] | None = None
    stale_severity: Severity = "medium"


class MachineThresholdsBody(BaseModel):
    """Every sensor's rules of one machine (``PUT``): sensors not listed fall back to the
    default."""

    model_config = ConfigDict(extra="forbid")

    sensors: Annotated[dict[SensorName, ThresholdsBody], Field(max_length=256)]


class MachineThresholdsPatch(BaseModel):
    """Per sensor, a JSON merge patch (RFC 7396) over the rules in force, or ``null`` to
    drop the machine's own record (back to the default)."""

    model_config = ConfigDict(extra="forbid")

    sensors: Annotated[dict[SensorName, dict[str, Any] | None], Field(max_length=256)]


class EffectiveThresholds(SensorThresholds):
    """The record in force for one sensor; ``source`` says whether it is the machine's own
    or the ``*`` default."""

    machine_id: int | str  # type: ignore[assignment]  # shown as api.flat.machine_id_json
    source: Literal["machine", "default"]


class MachineThresholds(BaseModel):
    machine_id: int | str
    sensors: list[EffectiveThresholds]
