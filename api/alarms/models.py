"""Request and response bodies of the alarm routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.alarm_actions import AlarmActionKind
from contracts.alarm_state import AlarmStateRecord, Comment
from contracts.alarms import Severity
from contracts.patterns import MachineId, SensorName

# The longest an alarm may be shelved in one go.
MAX_SHELVE_S = 7 * 24 * 3600


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Comment = ""


class ShelveBody(BaseModel):
    """Shelve until ``until`` or for ``duration_s`` (one of them); a comment is required."""

    model_config = ConfigDict(extra="forbid")

    comment: Annotated[str, Field(min_length=1, max_length=500)]
    until: datetime | None = None
    duration_s: Annotated[float, Field(gt=0, le=MAX_SHELVE_S)] | None = None

    @model_validator(mode="after")
    def _one_expiry(self) -> Self:
        if (self.until is None) == (self.duration_s is None):
            raise ValueError("give exactly one of until or duration_s")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("until: needs a time zone (e.g. 2026-11-26T21:00:00Z)")
        return self


class LogAlarmBody(BaseModel):
    """An alarm logged by hand (rule ``manual``)."""

    model_config = ConfigDict(extra="forbid")

    machine_id: Annotated[MachineId, Field(max_length=64)]
    sensor: Annotated[SensorName, Field(max_length=64)]
    severity: Severity = "medium"
    message: Annotated[str, Field(min_length=1, max_length=500)]
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    comment: Comment = ""


class AlarmView(AlarmStateRecord):
    """An alarm state as the API shows it: the machine id as ``api.flat.machine_id_json``."""

    machine_id: int | str  # type: ignore[assignment]


class ActionAccepted(BaseModel):
    """The action is on Kafka; the pipeline applies it and publishes the new state."""

    action_id: str
    action: AlarmActionKind
    alarm_id: str
    status: Literal["accepted"] = "accepted"
