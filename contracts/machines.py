"""Machine registry entries, as they travel on the compacted machines topic (key = machine id)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.errors import ContractError


class SensorInfo(BaseModel):
    """One sensor of a machine: its field name (``temperature_c``) and unit (``°C``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    unit: str = ""


class MachineInfo(BaseModel):
    """What the registry knows of a machine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    machine_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
    name: str = ""
    plant: str = ""
    line: str = ""
    location: str = ""
    sensors: tuple[SensorInfo, ...] = ()

    def encode(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def key(self) -> bytes:
        return self.machine_id.encode()


def decode_machine(data: bytes) -> MachineInfo:
    try:
        obj: Any = orjson.loads(data)
        return MachineInfo.model_validate(obj)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"machine: not valid JSON ({exc})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "machine"
        raise ContractError(f"{where}: {first['msg']}") from exc
