"""Request and response bodies of the command routes."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.commands import CommandAction, CommandResult, check_setpoint_target
from contracts.patterns import SensorName

CommandState = Literal["pending", "succeeded", "refused", "failed"]


class CommandBody(BaseModel):
    """``stop``, ``start``, or ``setpoint`` (with ``target`` and ``value``)."""

    model_config = ConfigDict(extra="forbid")

    action: CommandAction
    target: Annotated[SensorName, Field(max_length=64)] | None = None
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    reason: Annotated[str, Field(max_length=500)] = ""
    # Not executed within this long: refused by the connector.
    ttl_s: Annotated[float, Field(gt=0, le=3600)] = 60.0

    @model_validator(mode="after")
    def _setpoint_has_target(self) -> Self:
        check_setpoint_target(self.action, self.target, self.value)
        return self


class CommandView(BaseModel):
    command_id: str
    machine_id: int | str
    action: CommandAction
    target: str | None
    value: float | None
    requested_by: str
    reason: str
    ts_ms: int
    expires_ts_ms: int | None
    status: CommandState
    result: CommandResult | None
