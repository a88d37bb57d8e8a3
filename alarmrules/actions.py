"""Operator actions on a machine's alarms, and shelves that run out.

Pure code on a :class:`~alarmrules.state.MachineState`, like :mod:`alarmrules.engine`:
:func:`apply_action` acknowledges, shelves, unshelves, logs or clears, and is refused
with :class:`~alarmrules.lifecycle.ActionRefused` when the state does not allow it;
:func:`expire_shelves` ends shelves whose time is up.
"""

from __future__ import annotations

from alarmrules.lifecycle import (
    ActionRefused,
    acknowledge,
    set_condition,
    shelve,
    unshelve,
)
from alarmrules.state import AlarmEntry, MachineState
from contracts.alarm_actions import AlarmAction
from contracts.alarms import AlarmEvent


def apply_action(state: MachineState, action: AlarmAction) -> list[AlarmEvent]:
    """Apply an operator action; :class:`ActionRefused` says why it cannot be."""
    key = f"{action.sensor}:{action.rule}"
    entry = state.alarms.get(key)
    if entry is not None and action.action_id == entry.last_action_id:
        return []  # the same action again (a replay): applied already
    if entry is not None and action.ts_ms < entry.last_action_ts_ms:
        raise ActionRefused(
            f"alarm {action.alarm_id}: action of ts_ms {action.ts_ms} is older than the last "
            f"one applied ({entry.last_action_ts_ms}); replayed or out of order"
        )
    ts = action.ts_ms
    event: AlarmEvent | None
    if action.action == "log":
        if entry is None:
            entry = state.alarms[key] = AlarmEntry.new(action.sensor, action.rule)
        if entry.active:
            raise ActionRefused(f"alarm {action.alarm_id} is already active")
        entry.severity = action.severity
        entry.threshold = action.value if action.value is not None else 0.0
        event = set_condition(
            state,
            entry,
            present=True,
            ts_ms=ts,
            value=action.value if action.value is not None else 0.0,
            message=action.message or f"logged by {action.by}",
            by=action.by,
        )
    elif entry is None:
        raise ActionRefused(
            f"alarm {action.alarm_id}: unknown alarm on machine {action.machine_id}"
        )
    elif action.action == "clear":
        if not entry.active:
            raise ActionRefused(f"alarm {action.alarm_id} is not active")
        event = set_condition(
            state,
            entry,
            present=False,
            ts_ms=ts,
            value=entry.value,
            message=action.message or f"cleared by {action.by}",
            by=action.by,
        )
    elif action.action == "acknowledge":
        event = acknowledge(state, entry, ts_ms=ts, by=action.by, comment=action.comment)
    elif action.action == "shelve":
        if action.shelve_until_ts_ms is None:
            raise RuntimeError("expected action.shelve_until_ts_ms is not None")
        event = shelve(
            state,
            entry,
            ts_ms=ts,
            by=action.by,
            until_ts_ms=action.shelve_until_ts_ms,
            comment=action.comment,
        )
    else:
        event = unshelve(state, entry, ts_ms=ts, by=action.by, comment=action.comment)
    entry.last_action_id = action.action_id
    entry.last_action_ts_ms = action.ts_ms
    return [event] if event is not None else []


def expire_shelves(state: MachineState, now_ms: int) -> list[AlarmEvent]:
    """Unshelve every alarm whose shelve ended by ``now_ms`` (wall time)."""
    events = []
    for _key, entry in sorted(state.alarms.items()):
        until = entry.shelved_until_ts_ms
        if entry.state == "shelved" and until is not None and until <= now_ms:
            events.append(unshelve(state, entry, ts_ms=until, by="", comment="shelve expired"))
    return events
