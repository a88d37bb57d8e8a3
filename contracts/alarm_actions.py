"""Operator actions on alarms, as the API produces them to the alarm-actions topic.

Key = machine id, so the actions of a machine land on the same partition number as its
readings (the topics are co-partitioned) and reach the worker that owns its alarms.

- ``acknowledge``: an operator has seen the alarm (ISA-18.2 acknowledgement).
- ``shelve``: suppress the alarm until ``shelve_until_ts_ms`` (required); it unshelves by
  itself then.
- ``unshelve``: end a shelve early.
- ``log``: an engineer logs an alarm by hand (the seed's "Log a new alarm event"); it is
  raised under rule ``manual`` for ``sensor`` with ``severity``, ``message`` and ``value``.
- ``clear``: clear a hand-logged (``manual``) alarm.

The pipeline answers each applied action with an event on the alarms topic
(``acknowledged``, ``shelved``, ``unshelved``, ``raised``, ``cleared``) and a new record on
the alarm-state topic; an action on an alarm that does not exist, or that its state does
not allow, is dropped with a dead-letter record naming the reason.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.alarms import RuleName, Severity, alarm_id
from contracts.codec import decode_model, encode_model
from contracts.errors import ContractError
from contracts.patterns import MachineId, SensorName

AlarmActionKind = Literal["acknowledge", "shelve", "unshelve", "log", "clear"]
MANUAL_RULE = "manual"


class AlarmAction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action_id: Annotated[str, Field(min_length=1, max_length=64)]
    action: AlarmActionKind
    machine_id: MachineId
    sensor: SensorName
    rule: RuleName
    by: Annotated[str, Field(min_length=1, max_length=128)]
    ts_ms: int
    comment: Annotated[str, Field(max_length=500)] = ""
    shelve_until_ts_ms: int | None = None
    # For ``log`` only.
    severity: Severity = "medium"
    message: Annotated[str, Field(max_length=500)] = ""
    value: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.action == "shelve" and self.shelve_until_ts_ms is None:
            raise ValueError("shelve_until_ts_ms: required to shelve an alarm")
        if self.action in ("log", "clear") and self.rule != MANUAL_RULE:
            raise ValueError(f"rule: {self.action} applies only to rule {MANUAL_RULE!r}")
        return self

    @property
    def alarm_id(self) -> str:
        return alarm_id(self.machine_id, self.sensor, self.rule)

    def key(self) -> bytes:
        return self.machine_id.encode()

    def encode(self) -> bytes:
        return encode_model(self)


def parse_alarm_id(text: str) -> tuple[str, str, str]:
    """``"42:temperature_c:high"`` -> ``("42", "temperature_c", "high")``.

    Machine ids may contain ``:``, so the sensor and rule are taken from the right.
    """
    machine_id, sep1, rest = text.rpartition(":")
    machine_id, sep2, sensor = machine_id.rpartition(":")
    if not (sep1 and sep2 and machine_id and sensor and rest):
        raise ContractError(f"alarm_id: {text!r} is not '<machine_id>:<sensor>:<rule>'")
    return machine_id, sensor, rest


def decode_alarm_action(data: bytes) -> AlarmAction:
    return decode_model(AlarmAction, data, "alarm action")
