"""Alarm rules as pure functions: a reading and the remembered state in, events out.

The state of one machine's alarms is a small JSON-ready dict, so it can live in a Faust
table keyed by machine id (co-partitioned with the readings stream)::

    {"temperature_c:high": {"state": "active_unacknowledged", "ts_ms": 1766241000123}}

Each entry is one alarm, keyed by ``<sensor>:<rule>``; ``ts_ms`` is the time of the reading
that caused its last transition. The state changes only on a transition, so it is written
rarely; a reading no newer than the last transition is skipped, and every later reading is
evaluated from the same state as the first time round. Replaying a stretch of the readings
topic therefore reproduces the same events, with the same deterministic alarm ids
(:func:`contracts.alarms.alarm_id`), and nothing that the state already records.

Only the high limit with deadband is here yet; low / high-high / low-low limits, on- and
off-delays, acknowledgement and shelving extend :class:`LimitRule` and the state entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from contracts.alarms import AlarmEvent, AlarmEventKind, AlarmState, Severity, alarm_id
from contracts.readings import Reading

MachineAlarmState = dict[str, dict[str, Any]]

_ACTIVE_STATES: frozenset[str] = frozenset(("active_unacknowledged", "active_acknowledged"))


class LimitRule(Protocol):
    """A rule that watches one sensor and is either active or not for a value."""

    @property
    def sensor(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def severity(self) -> Severity: ...

    @property
    def threshold(self) -> float: ...

    def is_active(self, value: float, *, was_active: bool) -> bool: ...

    def message(self, value: float, *, machine_id: str, active: bool) -> str: ...


def _num(value: float) -> str:
    return repr(round(value, 3))


@dataclass(frozen=True, slots=True)
class HighLimitRule:
    """Active above ``limit``; clears only below ``limit - deadband`` (hysteresis).

    ``limit`` and ``deadband`` are in the sensor's unit (°C for ``temperature_c``).
    """

    sensor: str
    limit: float
    deadband: float = 0.0
    severity: Severity = "high"
    name: str = "high"

    def __post_init__(self) -> None:
        if self.deadband < 0:
            raise ValueError(f"deadband: must not be negative, got {self.deadband}")

    @property
    def threshold(self) -> float:
        return self.limit

    @property
    def clear_below(self) -> float:
        return self.limit - self.deadband

    def is_active(self, value: float, *, was_active: bool) -> bool:
        if was_active:
            return not value < self.clear_below
        return value > self.limit

    def message(self, value: float, *, machine_id: str, active: bool) -> str:
        if active:
            return f"{self.sensor} {_num(value)} above {_num(self.limit)} on machine {machine_id}"
        return (
            f"{self.sensor} {_num(value)} back below {_num(self.clear_below)} "
            f"on machine {machine_id}"
        )


def _memory_key(rule: LimitRule) -> str:
    return f"{rule.sensor}:{rule.name}"


def _next_state(previous: str, *, active: bool) -> AlarmState:
    if active:
        return "active_unacknowledged"
    # An alarm acknowledged while active needs no further acknowledgement once clear.
    return "normal" if previous == "active_acknowledged" else "cleared_unacknowledged"


def evaluate(
    state: Mapping[str, Any] | None,
    reading: Reading,
    rules: Sequence[LimitRule],
) -> tuple[MachineAlarmState, list[AlarmEvent]]:
    """Apply ``rules`` to one reading of the machine whose alarm state is ``state``.

    Returns the new state and the events to publish, in rule order; the state changes
    (into a new dict) only when there are events. Values of quality ``bad`` are not
    evaluated: a bad value says nothing about the process.
    """
    current: MachineAlarmState = dict(state) if state else {}
    events: list[AlarmEvent] = []
    for rule in rules:
        value = reading.values.get(rule.sensor)
        if value is None or reading.quality_of(rule.sensor) == "bad":
            continue
        key = _memory_key(rule)
        memory = current.get(key)
        if memory is not None and reading.ts_ms <= int(memory.get("ts_ms", 0)):
            continue
        previous = str(memory["state"]) if memory is not None else "normal"
        was_active = previous in _ACTIVE_STATES
        active = rule.is_active(value, was_active=was_active)
        if active == was_active:
            continue
        new_state = _next_state(previous, active=active)
        kind: AlarmEventKind = "raised" if active else "cleared"
        events.append(
            AlarmEvent(
                alarm_id=alarm_id(reading.machine_id, rule.sensor, rule.name),
                event=kind,
                state=new_state,
                machine_id=reading.machine_id,
                sensor=rule.sensor,
                rule=rule.name,
                severity=rule.severity,
                value=value,
                threshold=rule.threshold,
                ts_ms=reading.ts_ms,
                message=rule.message(value, machine_id=reading.machine_id, active=active),
            )
        )
        current[key] = {"state": new_state, "ts_ms": reading.ts_ms}
    return current, events


def active_alarms(state: Mapping[str, Any] | None) -> list[str]:
    """Keys (``<sensor>:<rule>``) of the alarms active in a machine's state."""
    if not state:
        return []
    return sorted(k for k, v in state.items() if v.get("state") in _ACTIVE_STATES)
