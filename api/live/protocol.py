"""The control messages a ``/live`` client sends, parsed into typed actions.

Every parse error is a :class:`~contracts.errors.ContractError` whose text names the
offending field; the session answers it with an ``{"type": "error"}`` frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from api.flat import machine_id_json
from contracts.errors import ContractError
from contracts.patterns import is_sensor_name
from contracts.readings import normalize_machine_id

ACTIONS = ("auth", "subscribe", "unsubscribe", "ping")
MAX_SENSORS = 64


@dataclass(frozen=True, slots=True)
class Auth:
    api_key: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    machine_id: str
    sensors: tuple[str, ...]  # empty: every sensor of the machine


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    machine_id: str | None  # None: every subscription


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Action = Auth | Subscribe | Unsubscribe | Ping


def parse_action(data: str | bytes) -> Action:
    try:
        obj: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"message: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise ContractError('message: must be a JSON object like {"action": "subscribe", ...}')
    action = obj.get("action")
    if action == "subscribe":
        return Subscribe(machine_id=_machine_id(obj), sensors=_sensors(obj.get("sensors")))
    if action == "unsubscribe":
        raw = obj.get("machine_id")
        return Unsubscribe(machine_id=None if raw is None else _machine_id(obj))
    if action == "ping":
        return Ping()
    if action == "auth":
        key = obj.get("api_key")
        if not isinstance(key, str) or not key:
            raise ContractError("api_key: required, a non-empty string")
        return Auth(api_key=key)
    if action is None:
        raise ContractError(f"action: required, one of {', '.join(ACTIONS)}")
    raise ContractError(f"action: unknown action {action!r} (expected one of {', '.join(ACTIONS)})")


def _machine_id(obj: dict[str, Any]) -> str:
    if "machine_id" not in obj:
        raise ContractError("machine_id: field required")
    return normalize_machine_id(obj["machine_id"])


def _sensors(raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ContractError('sensors: must be a list of names, e.g. ["temperature", "power"]')
    if len(raw) > MAX_SENSORS:
        raise ContractError(f"sensors: at most {MAX_SENSORS} names")
    names: list[str] = []
    for i, name in enumerate(raw):
        if not isinstance(name, str) or not is_sensor_name(name):
            raise ContractError(
                f"sensors[{i}]: {name!r} is not a sensor name (lower_snake_case, e.g. temperature)"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def subscribed_frame(action: Subscribe) -> dict[str, Any]:
    return {
        "type": "subscribed",
        "machine_id": machine_id_json(action.machine_id),
        "sensors": list(action.sensors),
    }


def unsubscribed_frame(action: Unsubscribe) -> dict[str, Any]:
    machine = None if action.machine_id is None else machine_id_json(action.machine_id)
    return {"type": "unsubscribed", "machine_id": machine}


def error_frame(detail: str) -> dict[str, Any]:
    return {"type": "error", "detail": detail}


def dropped_frame(count: int) -> dict[str, Any]:
    return {"type": "dropped", "count": count}
