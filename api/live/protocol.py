"""The control messages a ``/live`` client sends, parsed into typed actions.

Every parse error is a :class:`~contracts.errors.ContractError` whose text names the
offending field; the session answers it with an ``{"type": "error"}`` frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from api.flat import machine_id_json
from contracts.errors import ContractError
from contracts.patterns import is_sensor_name
from contracts.readings import normalize_machine_id

ACTIONS = (
    "auth",
    "subscribe",
    "unsubscribe",
    "ping",
    "subscribe_alarms",
    "unsubscribe_alarms",
    "subscribe_aggregates",
    "unsubscribe_aggregates",
    "subscribe_overview",
    "unsubscribe_overview",
    "ack",
    "command",
)
COMMANDS = ("stop", "start", "setpoint")
MAX_TEXT = 500
MAX_PARTITIONS = 1024
MAX_SENSORS = 64
OVERVIEW_INTERVAL_MS = (250, 60_000)
OVERVIEW_DEFAULT_INTERVAL_MS = 1_000


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


@dataclass(frozen=True, slots=True)
class SubscribeAlarms:
    """Every alarm event (of one plant, or of all); with a cursor, first every event after
    it that this client missed."""

    plant: str | None
    cursor: dict[int, int] | None


@dataclass(frozen=True, slots=True)
class UnsubscribeAlarms:
    pass


@dataclass(frozen=True, slots=True)
class SubscribeAggregates:
    machine_id: str


@dataclass(frozen=True, slots=True)
class UnsubscribeAggregates:
    machine_id: str | None


@dataclass(frozen=True, slots=True)
class SubscribeOverview:
    """The latest reading of every machine of ``plant`` (None: of every plant), at most
    once per ``interval_ms``."""

    plant: str | None
    interval_ms: int
    sensors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnsubscribeOverview:
    pass


@dataclass(frozen=True, slots=True)
class Ack:
    alarm_id: str
    comment: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Command:
    machine_id: str
    command: str
    target: str | None
    value: float | None
    reason: str
    request_id: str | None


Action = (
    Auth
    | Subscribe
    | Unsubscribe
    | Ping
    | SubscribeAlarms
    | UnsubscribeAlarms
    | SubscribeAggregates
    | UnsubscribeAggregates
    | SubscribeOverview
    | UnsubscribeOverview
    | Ack
    | Command
)


def format_cursor(positions: dict[int, int]) -> str:
    """``{0: 12, 1: 7}`` -> ``"0:12,1:7"``: per partition of the alarms topic, the offset of
    the next event (every event before it has been delivered)."""
    return ",".join(f"{p}:{o}" for p, o in sorted(positions.items()))


def parse_cursor(raw: object) -> dict[int, int]:
    if not isinstance(raw, str) or len(raw) > 16 * MAX_PARTITIONS:
        raise ContractError('cursor: must be a string like "0:12,1:7" from an alarm frame')
    out: dict[int, int] = {}
    for part in raw.split(","):
        p, sep, o = part.partition(":")
        if not (sep and p.isdecimal() and o.isdecimal() and len(p) < 6 and len(o) < 20):
            raise ContractError(f"cursor: {part!r} is not '<partition>:<offset>'")
        out[int(p)] = int(o)
    return out


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
        return Unsubscribe(machine_id=_machine_id_or_all(obj))
    if action == "ping":
        return Ping()
    if action == "subscribe_alarms":
        plant = _optional_text(obj, "plant")
        cursor = obj.get("cursor")
        return SubscribeAlarms(plant=plant, cursor=None if cursor is None else parse_cursor(cursor))
    if action == "unsubscribe_alarms":
        return UnsubscribeAlarms()
    if action == "subscribe_aggregates":
        return SubscribeAggregates(machine_id=_machine_id(obj))
    if action == "unsubscribe_aggregates":
        return UnsubscribeAggregates(machine_id=_machine_id_or_all(obj))
    if action == "subscribe_overview":
        return SubscribeOverview(
            plant=_optional_text(obj, "plant"),
            interval_ms=_interval_ms(obj.get("interval_ms")),
            sensors=_sensors(obj.get("sensors")),
        )
    if action == "unsubscribe_overview":
        return UnsubscribeOverview()
    if action == "ack":
        alarm = obj.get("alarm_id")
        if not isinstance(alarm, str) or not alarm or len(alarm) > 200:
            raise ContractError('alarm_id: required, e.g. "42:temperature_c:high"')
        return Ack(
            alarm_id=alarm,
            comment=_optional_text(obj, "comment") or "",
            request_id=_optional_text(obj, "request_id"),
        )
    if action == "command":
        return _command(obj)
    if action == "auth":
        # An API key or a login token (POST /api/auth/login), under either name.
        key = obj.get("api_key", obj.get("token"))
        if not isinstance(key, str) or not key:
            raise ContractError("api_key: required (or token), a non-empty string")
        return Auth(api_key=key)
    if action is None:
        raise ContractError(f"action: required, one of {', '.join(ACTIONS)}")
    raise ContractError(f"action: unknown action {action!r} (expected one of {', '.join(ACTIONS)})")


def _optional_text(obj: dict[str, Any], name: str) -> str | None:
    raw = obj.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_TEXT:
        raise ContractError(f"{name}: must be a string of at most {MAX_TEXT} characters")
    return raw


def _command(obj: dict[str, Any]) -> Command:
    command = obj.get("command")
    if command not in COMMANDS:
        raise ContractError(f"command: required, one of {', '.join(COMMANDS)}")
    target = _optional_text(obj, "target")
    if target is not None and not is_sensor_name(target):
        raise ContractError(f"target: {target!r} is not a tag name (lower_snake_case)")
    raw_value = obj.get("value")
    if raw_value is not None and (
        isinstance(raw_value, bool)
        or not isinstance(raw_value, (int, float))
        or not math.isfinite(raw_value)
    ):
        raise ContractError("value: must be a finite number")
    return Command(
        machine_id=_machine_id(obj),
        command=command,
        target=target,
        value=None if raw_value is None else float(raw_value),
        reason=_optional_text(obj, "reason") or "",
        request_id=_optional_text(obj, "request_id"),
    )


def result_frame(
    action: str, request_id: str | None, *, status: int, **fields: Any
) -> dict[str, Any]:
    """The answer to an ``ack`` or ``command``: ``ok`` with the HTTP-like status."""
    return {
        "type": "result",
        "action": action,
        "request_id": request_id,
        "ok": status < 400,
        "status": status,
        **fields,
    }


def _machine_id(obj: dict[str, Any]) -> str:
    if "machine_id" not in obj:
        raise ContractError("machine_id: field required")
    return normalize_machine_id(obj["machine_id"])


def _machine_id_or_all(obj: dict[str, Any]) -> str | None:
    """An unsubscribe's machine, or None (no ``machine_id``, or null): from every machine."""
    return None if obj.get("machine_id") is None else _machine_id(obj)


def _interval_ms(raw: object) -> int:
    if raw is None:
        return OVERVIEW_DEFAULT_INTERVAL_MS
    low, high = OVERVIEW_INTERVAL_MS
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise ContractError(f"interval_ms: must be an integer from {low} to {high}")
    return raw


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
