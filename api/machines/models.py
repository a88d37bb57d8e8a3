"""Request and response bodies of the machine routes.

``PUT`` and ``POST`` take what ``GET`` returns: the read-only fields (:data:`READ_ONLY`
and the top-level values of the primary sensors) are accepted and ignored; any other
field a machine does not have is ``422``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.body_ids import BodyMachineId
from api.errors import InvalidInputError
from api.machines.views import READ_ONLY, TOP_LEVEL
from contracts.machines import SensorInfo
from contracts.patterns import SensorName

Text = Annotated[str, Field(max_length=200)]


MAX_SENSORS = 256
MAX_PRIMARY = 16


class SensorMeta(BaseModel):
    """Metadata of one sensor (``sensor_info.temperature_c``)."""

    model_config = ConfigDict(extra="forbid")

    unit: Annotated[str, Field(max_length=32)] = ""


SensorInfoMap = Annotated[dict[SensorName, SensorMeta], Field(max_length=MAX_SENSORS)]
PrimarySensors = Annotated[list[SensorName], Field(max_length=MAX_PRIMARY)]


def _check_primary(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    taken = sorted(set(value) & TOP_LEVEL)
    if taken:
        raise ValueError(f"{', '.join(taken)}: the name of a field of the machine object")
    if len(set(value)) != len(value):
        raise ValueError("a sensor is named twice")
    return value


def sensor_list(info: dict[str, SensorMeta]) -> list[dict[str, Any]]:
    """``sensor_info`` as the machines topic keeps it: a list of ``{name, unit}``."""
    return [SensorInfo(name=n, unit=m.unit).model_dump(mode="json") for n, m in info.items()]


class MachineFields(BaseModel):
    """The writable fields (``PUT``): the ones given replace the API's values; one not
    given shows the connector's value (empty if none)."""

    model_config = ConfigDict(extra="allow")

    name: Text = ""
    plant: Text = ""
    line: Text = ""
    location: Text = ""
    primary_sensors: PrimarySensors = Field(
        default_factory=list, description="Sensors also shown at the top level"
    )
    sensor_info: SensorInfoMap = Field(
        default_factory=dict, description='Units by sensor name: {"temperature_c": {"unit": "°C"}}'
    )
    # Read-only, as GET shows them: accepted and ignored.
    machine_id: BodyMachineId | None = Field(default=None, description="Must be the path's")
    status: Any = None
    alarms: Any = None
    last_maintenance: Any = None
    sensors: Any = Field(
        default=None,
        json_schema_extra={"anyOf": [{"type": "object"}, {"type": "null"}], "readOnly": True},
    )
    readings_ts: Any = None

    @field_validator("primary_sensors")
    @classmethod
    def _primary(cls, value: list[str]) -> list[str] | None:
        return _check_primary(value)

    @field_validator("sensors")
    @classmethod
    def _sensors_are_values(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError(
                "read-only: the latest values by sensor name; units go in sensor_info "
                '({"temperature_c": {"unit": "°C"}})'
            )
        return value

    def stored_fields(self) -> dict[str, Any]:
        """The given writable fields, in the shape the machines topic keeps."""
        given = (self.model_fields_set & set(type(self).model_fields)) - {"machine_id", *READ_ONLY}
        out = self.model_dump(mode="json", include=given - {"sensor_info"})
        if "sensor_info" in given:
            out["sensors"] = sensor_list(self.sensor_info)
        return out

    def refuse_unknown(self, primary: tuple[str, ...]) -> None:
        """422 for a field a machine does not have; a primary sensor's value is read-only."""
        allowed = set(primary) | set(self.primary_sensors)
        unknown = sorted(set(self.model_extra or {}) - allowed)
        if unknown:
            raise InvalidInputError(
                f"body.{unknown[0]}: Extra inputs are not permitted (not a field of a machine;"
                " the writable ones are name, location, plant, line, primary_sensors, "
                "sensor_info)"
            )


class MachineCreate(MachineFields):
    machine_id: BodyMachineId


class MachinePatch(BaseModel):
    """Fields to set; ``null`` drops the API's value, so the connector's shows again."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    plant: Text | None = None
    line: Text | None = None
    location: Text | None = None
    primary_sensors: PrimarySensors | None = None
    sensor_info: SensorInfoMap | None = None

    @field_validator("primary_sensors")
    @classmethod
    def _primary(cls, value: list[str] | None) -> list[str] | None:
        return _check_primary(value)

    def changes(self) -> dict[str, Any]:
        """Given fields in the stored shape; ``None`` for those to drop."""
        out = self.model_dump(mode="json", exclude_unset=True, exclude={"sensor_info"})
        if "sensor_info" in self.model_fields_set:
            out["sensors"] = None if self.sensor_info is None else sensor_list(self.sensor_info)
        return out


class MachineListItem(BaseModel):
    """One machine in ``GET /api/machines``: the writable fields only."""

    machine_id: int | str
    name: str
    location: str
    plant: str
    line: str
    primary_sensors: list[str]
    sensor_info: dict[str, SensorMeta]


class MachineOut(MachineListItem):
    """``GET /api/machines/{id}``: also the live part. Each primary sensor's value is at the
    top level too (``temperature_c``, ``spindle_rpm`` by default), ``null`` if none."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="running, stopped, alarm or offline")
    alarms: list[dict[str, Any]]
    last_maintenance: str | None
    sensors: dict[str, float]
    readings_ts: str | None
