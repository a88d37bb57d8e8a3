"""One alarm's condition over time: the on-, off- and re-alarm delays before it raises or
clears.

:func:`observe` is told, at a reading's time, whether a :class:`Condition` is present; it
raises or clears the alarm at once, or notes a pending change that a later observation
(or :func:`alarmrules.engine.advance`) completes when the delay has passed.
"""

from __future__ import annotations

from dataclasses import dataclass

from alarmrules.lifecycle import set_condition
from alarmrules.state import AlarmEntry, MachineState, Pending
from contracts.alarms import AlarmEvent, Severity


@dataclass(frozen=True, slots=True)
class Condition:
    """What one alarm watches, as the rules say now."""

    sensor: str
    rule: str
    severity: Severity
    threshold: float
    on_delay_ms: int = 0
    off_delay_ms: int = 0
    realarm_delay_ms: int = 0


def observe(
    state: MachineState,
    cond: Condition,
    *,
    present: bool,
    ts_ms: int,
    value: float,
    message: str,
) -> list[AlarmEvent]:
    """The condition of ``cond`` is ``present`` (or not) at ``ts_ms``; apply the delays."""
    key = f"{cond.sensor}:{cond.rule}"
    entry = state.alarms.get(key)
    if entry is None:
        if not present:
            return []
        entry = state.alarms[key] = AlarmEntry.new(
            cond.sensor, cond.rule, severity=cond.severity, threshold=cond.threshold
        )
    if present:
        if entry.pending is not None and entry.pending.kind == "clear":
            entry.pending = None
        if entry.active:
            return []
        entry.severity = cond.severity
        entry.threshold = cond.threshold
        delay_ms = cond.on_delay_ms
        if entry.cleared_ts_ms is not None:
            delay_ms = max(delay_ms, cond.realarm_delay_ms)
        if delay_ms > 0:
            pending = entry.pending
            if pending is None or pending.kind != "raise":
                entry.pending = Pending("raise", ts_ms, ts_ms + delay_ms, value, message)
                return []
            if ts_ms < pending.due_ms:
                return []
        event = set_condition(state, entry, present=True, ts_ms=ts_ms, value=value, message=message)
    else:
        if entry.pending is not None and entry.pending.kind == "raise":
            entry.pending = None
        if not entry.active:
            return []
        if cond.off_delay_ms > 0:
            pending = entry.pending
            if pending is None:
                entry.pending = Pending("clear", ts_ms, ts_ms + cond.off_delay_ms, value, message)
                return []
            if ts_ms < pending.due_ms:
                return []
        event = set_condition(
            state, entry, present=False, ts_ms=ts_ms, value=value, message=message
        )
    return [event] if event is not None else []
