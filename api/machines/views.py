"""The machine object as the REST API shows it: the seed's fields, built by one rule.

- ``sensors``: the latest value of every numeric sensor of the machine;
- each of the machine's ``primary_sensors`` (default :data:`DEFAULT_PRIMARY`) also at the
  top level, ``null`` when the machine has no value for it;
- ``sensor_info``: units and other sensor metadata, by sensor name;
- ``status`` by :func:`machine_status`; ``alarms`` its active, unshelved alarms;
  ``last_maintenance`` the latest done date of its maintenance schedules.

The writable part (:func:`writable_view`) is what ``GET /api/machines`` lists and what
the ``ETag`` versions, so ``304`` still answers while only live values change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from api.flat import machine_id_json
from contracts.alarm_state import AlarmStateRecord
from contracts.machines import MachineInfo

DEFAULT_PRIMARY = ("temperature_c", "spindle_rpm")
# The coil that says whether a machine runs (1.0) or stands (0.0).
RUNNING_SENSOR = "running"
COMM_LOSS_RULE = "comm_loss"

Status = Literal["running", "stopped", "alarm", "offline"]

WRITABLE = ("name", "location", "plant", "line", "primary_sensors", "sensor_info")
READ_ONLY = ("status", "alarms", "last_maintenance", "sensors", "readings_ts")
# Names a primary sensor may not take: they would hide a field of the machine object.
TOP_LEVEL = frozenset(("machine_id", *WRITABLE, *READ_ONLY))


@dataclass(frozen=True, slots=True)
class LiveValues:
    """The newest value of each numeric sensor, and the time of the newest of them."""

    values: dict[str, float]
    newest_ts_ms: int | None


def primary_of(info: MachineInfo) -> tuple[str, ...]:
    return info.primary_sensors or DEFAULT_PRIMARY


def writable_view(info: MachineInfo) -> dict[str, Any]:
    """The fields a client may write, as GET shows them (numeric ids as numbers)."""
    return {
        "machine_id": machine_id_json(info.machine_id),
        "name": info.name,
        "location": info.location,
        "plant": info.plant,
        "line": info.line,
        "primary_sensors": list(primary_of(info)),
        "sensor_info": {s.name: {"unit": s.unit} for s in info.sensors},
    }


def machine_status(
    live: LiveValues | None,
    alarms: list[AlarmStateRecord],
    *,
    now_ms: int,
    offline_after_ms: int,
) -> Status:
    """The first that holds: ``offline`` (a ``comm_loss`` alarm, or no reading newer than
    ``offline_after_ms``), ``alarm`` (any other active alarm), ``stopped`` (the running
    coil is 0), ``running``."""
    if any(a.rule == COMM_LOSS_RULE for a in alarms):
        return "offline"
    if live is None or live.newest_ts_ms is None or now_ms - live.newest_ts_ms > offline_after_ms:
        return "offline"
    if alarms:
        return "alarm"
    if live.values.get(RUNNING_SENSOR) == 0.0:
        return "stopped"
    return "running"


def machine_object(
    info: MachineInfo,
    *,
    live: LiveValues | None,
    alarms: list[AlarmStateRecord],
    last_maintenance: date | None,
    status: Status,
    readings_ts: str | None,
) -> dict[str, Any]:
    """The seed's machine object: writable fields, primary values on top, the rest."""
    values = live.values if live is not None else {}
    writable = writable_view(info)
    out: dict[str, Any] = {
        "machine_id": writable["machine_id"],
        "name": info.name,
        "location": info.location,
        "status": status,
    }
    for sensor in primary_of(info):
        out[sensor] = values.get(sensor)
    out["alarms"] = [
        {**a.model_dump(mode="json"), "machine_id": writable["machine_id"]} for a in alarms
    ]
    out["last_maintenance"] = last_maintenance.isoformat() if last_maintenance else None
    out["sensors"] = dict(sorted(values.items()))
    out["plant"] = info.plant
    out["line"] = info.line
    out["primary_sensors"] = writable["primary_sensors"]
    out["sensor_info"] = writable["sensor_info"]
    out["readings_ts"] = readings_ts
    return out
