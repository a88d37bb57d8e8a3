"""Machine registry entries, as they travel on the compacted machines topic (key = machine id)."""

from __future__ import annotations

import orjson
from pydantic import BaseModel, ConfigDict

from contracts.codec import decode_model
from contracts.patterns import MachineId, SensorName


class SensorInfo(BaseModel):
    """One sensor of a machine: its field name (``temperature_c``) and unit (``°C``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SensorName
    unit: str = ""


class MachineInfo(BaseModel):
    """What the registry knows of a machine.

    ``primary_sensors``: the sensors the API shows at the top level of the machine object
    beside ``sensors`` (empty: the API's default, ``temperature_c`` and ``spindle_rpm``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    machine_id: MachineId
    name: str = ""
    plant: str = ""
    line: str = ""
    location: str = ""
    sensors: tuple[SensorInfo, ...] = ()
    primary_sensors: tuple[SensorName, ...] = ()

    def encode(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def key(self) -> bytes:
        return self.machine_id.encode()


def decode_machine(data: bytes) -> MachineInfo:
    return decode_model(MachineInfo, data, "machine")
