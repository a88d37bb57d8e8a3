"""Request and response bodies of the machine routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.machines import SensorInfo
from contracts.readings import normalize_machine_id

Text = Annotated[str, Field(max_length=200)]
Sensors = Annotated[list[SensorInfo], Field(max_length=256)]


class MachineFields(BaseModel):
    """Every API-owned field (``PUT``): what is not given is empty."""

    model_config = ConfigDict(extra="forbid")

    name: Text = ""
    plant: Text = ""
    line: Text = ""
    location: Text = ""
    sensors: Sensors = Field(default_factory=list)


class MachineCreate(MachineFields):
    machine_id: Annotated[int | str, Field(description="Numeric or text id, e.g. 42")]

    @field_validator("machine_id")
    @classmethod
    def _machine_id(cls, value: int | str) -> str:
        return normalize_machine_id(value)


class MachinePatch(BaseModel):
    """Fields to set; ``null`` drops the API's value, so the connector's shows again."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    plant: Text | None = None
    line: Text | None = None
    location: Text | None = None
    sensors: Sensors | None = None


class MachineOut(BaseModel):
    machine_id: int | str
    name: str
    plant: str
    line: str
    location: str
    sensors: list[SensorInfo]
