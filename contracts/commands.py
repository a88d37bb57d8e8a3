"""Commands to devices and their outcomes.

The API produces a :class:`Command` to the commands topic (key = machine id) and answers
``202 Accepted`` with its ``command_id``. The connector that owns the machine executes it,
only if the machine's device configuration allows that action (and, for a setpoint, that
target and a value in its range), and produces a :class:`CommandResult` (key = machine id)
to the command-results topic:

- ``succeeded``: the write was made and the device confirmed it;
- ``refused``: the configuration does not allow it, the value is out of range, or the
  command expired before it could run; ``reason`` says which;
- ``failed``: the device could not be written (transport error or exception response).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.codec import decode_model, encode_model
from contracts.patterns import MachineId, SensorName

CommandAction = Literal["stop", "start", "setpoint"]
CommandStatus = Literal["succeeded", "refused", "failed"]


def check_setpoint_target(action: str, target: str | None, value: float | None) -> None:
    """A ``setpoint`` names its target and value; ``stop`` and ``start`` take neither."""
    if action == "setpoint" and (target is None or value is None):
        raise ValueError("setpoint: needs both target and value")
    if action != "setpoint" and (target is not None or value is not None):
        raise ValueError(f"{action}: takes no target or value")


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: Annotated[str, Field(min_length=1, max_length=64)]
    machine_id: MachineId
    action: CommandAction
    # For ``setpoint``: the tag to write (its field name, e.g. ``spindle_rpm_setpoint``).
    target: SensorName | None = None
    value: float | None = None
    requested_by: Annotated[str, Field(min_length=1, max_length=128)]
    reason: Annotated[str, Field(max_length=500)] = ""
    ts_ms: int
    # A command not executed by then is refused (a stale "start" must not run later).
    expires_ts_ms: int | None = None

    @model_validator(mode="after")
    def _setpoint_has_target(self) -> Self:
        check_setpoint_target(self.action, self.target, self.value)
        return self

    def key(self) -> bytes:
        return self.machine_id.encode()

    def encode(self) -> bytes:
        return encode_model(self)


class CommandResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: Annotated[str, Field(min_length=1, max_length=64)]
    machine_id: MachineId
    status: CommandStatus
    reason: Annotated[str, Field(max_length=500)] = ""
    # Which connector executed it (its ``source``, e.g. ``modbus://127.0.0.1:5020``).
    executed_by: str = ""
    ts_ms: int

    def key(self) -> bytes:
        return self.machine_id.encode()

    def encode(self) -> bytes:
        return encode_model(self)


def decode_command(data: bytes) -> Command:
    return decode_model(Command, data, "command")


def decode_command_result(data: bytes) -> CommandResult:
    return decode_model(CommandResult, data, "command result")
