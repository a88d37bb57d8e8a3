"""The current state of each alarm, on the compacted alarm-state topic (key = alarm id).

The pipeline writes a record after every transition; the API lists alarms from the latest
record of each key. Records of alarms back to ``normal`` stay, so an alarm's last raise and
clear remain visible.

An alarm's own fields are declared once, in :class:`AlarmFields` (a plain dataclass): the
alarm engine keeps them per alarm, mutable and fast (:class:`alarmrules.state.AlarmEntry`
extends it), and :class:`AlarmStateRecord`, the pydantic model of the topic and the API,
takes them from it after the fields that say which alarm it is.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.alarms import AlarmState, RuleName, Severity
from contracts.codec import decode_model, encode_model
from contracts.patterns import MachineId, SensorName

Comment = Annotated[str, Field(max_length=500)]


# No __init__, __eq__ or __repr__ of its own: the engine's entry is a full dataclass of
# these fields and its own, and the record takes pydantic's.
@dataclass(init=False, repr=False, eq=False, kw_only=True)
class AlarmFields:
    """The state of one alarm (ISA-18.2); fields without a default are required on the wire."""

    # No instance dict of its own: the engine's entry keeps every field in a slot.
    __slots__ = ()

    severity: Severity
    # ISA-18.2 state; ``shelved`` while shelved, whatever the condition.
    state: AlarmState
    # Whether the process condition is present now (independent of acknowledgement; kept up
    # to date while shelved, too).
    active: bool
    value: float
    threshold: float
    message: str = ""
    raised_ts_ms: int | None = None
    cleared_ts_ms: int | None = None
    acknowledged_by: str | None = None
    acknowledged_ts_ms: int | None = None
    shelved_by: str | None = None
    shelved_until_ts_ms: int | None = None
    comment: Comment = ""
    updated_ts_ms: int


_NAMES: tuple[str, ...] = tuple(f.name for f in fields(AlarmFields))
_VALUES = attrgetter(*_NAMES)


def alarm_fields(alarm: AlarmFields) -> dict[str, Any]:
    """The :class:`AlarmFields` of ``alarm`` (an engine entry, a record) by name."""
    return dict(zip(_NAMES, _VALUES(alarm), strict=False))  # the same length


class AlarmKey(BaseModel):
    """Which alarm a record is about: its id, machine, sensor and rule, and where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_id: str
    machine_id: MachineId
    sensor: SensorName
    rule: RuleName
    plant: str = ""
    line: str = ""


# The AlarmKey fields, then the AlarmFields (pydantic orders them so); a pydantic model
# (validation, model_dump, the JSON schema) whose __init__, __eq__ and __repr__ are
# BaseModel's. dataclasses.is_dataclass() is true of it, but dataclasses.asdict() would
# see only the AlarmFields: use model_dump or encode. No docstring: it would
# become the schema's description.
class AlarmStateRecord(AlarmFields, AlarmKey):
    def key(self) -> bytes:
        return self.alarm_id.encode()

    def encode(self) -> bytes:
        return encode_model(self)


def decode_alarm_state(data: bytes) -> AlarmStateRecord:
    return decode_model(AlarmStateRecord, data, "alarm state")
