"""The current state of each alarm, on the compacted alarm-state topic (key = alarm id).

The pipeline writes a record after every transition; the API lists alarms from the latest
record of each key. Records of alarms back to ``normal`` stay, so an alarm's last raise and
clear remain visible.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from contracts.alarms import AlarmState, RuleName, Severity
from contracts.codec import decode_model, encode_model
from contracts.patterns import MachineId, SensorName


class AlarmStateRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_id: str
    machine_id: MachineId
    sensor: SensorName
    rule: RuleName
    plant: str = ""
    line: str = ""
    severity: Severity
    # ISA-18.2 state; ``shelved`` while shelved, whatever the condition.
    state: AlarmState
    # Whether the process condition is present now (independent of acknowledgement).
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
    comment: Annotated[str, Field(max_length=500)] = ""
    updated_ts_ms: int

    def key(self) -> bytes:
        return self.alarm_id.encode()

    def encode(self) -> bytes:
        return encode_model(self)


def decode_alarm_state(data: bytes) -> AlarmStateRecord:
    return decode_model(AlarmStateRecord, data, "alarm state")
