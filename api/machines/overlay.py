"""The API's own record of a machine, on the machines topic beside the connectors' ones.

Connectors publish :class:`contracts.machines.MachineInfo` under the machine id at every
start-up; the API never rewrites those. What users set through the API goes in an
overlay record under the key ``<machine_id>/api`` (``/`` never occurs in a machine id):

- ``fields``: the API-owned values (``name``, ``plant``, ``line``, ``location``,
  ``sensors`` (the metadata list, shown as ``sensor_info``), ``primary_sensors``); each one
  given wins over the connector's value, so a PATCHed ``location`` survives a connector
  restart, and one not given shows the connector's;
- ``deleted``: the machine was DELETEd; it stays hidden whatever a connector republishes,
  until a POST creates it again.

Only the API reads this key; it is the API's shape, so it lives in ``api/``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from contracts.codec import decode_model
from contracts.machines import MachineInfo
from contracts.patterns import MachineId

OVERLAY_SUFFIX = "/api"
API_FIELDS = ("name", "plant", "line", "location", "sensors", "primary_sensors")


class MachineOverlay(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    machine_id: MachineId
    fields: dict[str, Any] = Field(default_factory=dict)
    deleted: bool = False
    updated_by: Annotated[str, Field(max_length=128)] = ""
    updated_ts_ms: int = 0

    def key(self) -> bytes:
        return overlay_key(self.machine_id)

    def encode(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


def overlay_key(machine_id: str) -> bytes:
    return f"{machine_id}{OVERLAY_SUFFIX}".encode()


def decode_overlay(data: bytes) -> MachineOverlay:
    return decode_model(MachineOverlay, data, "machine overlay")


def merged(base: MachineInfo | None, overlay: MachineOverlay | None) -> MachineInfo | None:
    """The machine as the API shows it: the connector's record with the overlay's fields
    over it; ``None`` if deleted or unknown."""
    if overlay is not None and overlay.deleted:
        return None
    if overlay is None:
        return base
    data = base.model_dump(mode="json") if base is not None else {}
    data.update({k: v for k, v in overlay.fields.items() if k in API_FIELDS})
    data["machine_id"] = overlay.machine_id
    return MachineInfo.model_validate(data)
