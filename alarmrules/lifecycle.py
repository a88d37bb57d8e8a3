"""ISA-18.2 transitions of one alarm; each returns the event to publish (or None).

States and the transitions allowed between them::

    normal ──raise──► active_unacknowledged ──ack──► active_acknowledged
      ▲                  │ clear                         │ clear
      │                  ▼                               ▼
      └──ack── cleared_unacknowledged ◄─(raise again: back to active_unacknowledged)   normal

    any state but shelved ──shelve──► shelved ──unshelve / expiry──► active_unacknowledged
                                                                     (condition present)
                                                                     or normal

While shelved the condition is still tracked (``entry.active``) but announces nothing.
Every transition increments ``entry.seq``; the event carries it, so ``(alarm_id, seq)``
names one transition for good.
"""

from __future__ import annotations

from alarmrules.state import ACTIVE_STATES, AlarmEntry, MachineState
from contracts.alarms import AlarmEvent, AlarmEventKind
from contracts.errors import MillstreamError


class ActionRefused(MillstreamError):
    """An operator action the alarm's state does not allow; the text says why."""


def _event(
    machine: MachineState,
    entry: AlarmEntry,
    kind: AlarmEventKind,
    ts_ms: int,
    *,
    by: str = "",
    comment: str = "",
) -> AlarmEvent:
    entry.seq += 1
    entry.updated_ts_ms = ts_ms
    return AlarmEvent(
        alarm_id=machine.alarm_id(entry),
        event=kind,
        state=entry.state,
        machine_id=machine.machine_id,
        sensor=entry.sensor,
        rule=entry.rule,
        severity=entry.severity,
        value=entry.value,
        threshold=entry.threshold,
        ts_ms=ts_ms,
        message=entry.message,
        plant=machine.plant,
        line=machine.line,
        by=by,
        comment=comment,
        seq=entry.seq,
    )


def set_condition(
    machine: MachineState,
    entry: AlarmEntry,
    *,
    present: bool,
    ts_ms: int,
    value: float,
    message: str,
    by: str = "",
) -> AlarmEvent | None:
    """The condition is present (after its on-delay) or gone (after its off-delay): raise
    unless already active or shelved; clear unless not active or shelved."""
    entry.pending = None
    if entry.active == present:
        return None
    entry.active = present
    entry.value = value
    entry.message = message
    if present:
        return _raise(machine, entry, ts_ms, by)
    return _clear(machine, entry, ts_ms, by)


def _raise(machine: MachineState, entry: AlarmEntry, ts_ms: int, by: str) -> AlarmEvent | None:
    if entry.state == "shelved":
        entry.updated_ts_ms = ts_ms
        return None
    entry.state = "active_unacknowledged"
    entry.raised_ts_ms = ts_ms
    entry.acknowledged_by = None
    entry.acknowledged_ts_ms = None
    entry.comment = ""
    return _event(machine, entry, "raised", ts_ms, by=by)


def _clear(machine: MachineState, entry: AlarmEntry, ts_ms: int, by: str) -> AlarmEvent | None:
    if entry.state not in ACTIVE_STATES:
        entry.updated_ts_ms = ts_ms
        return None
    entry.state = "normal" if entry.state == "active_acknowledged" else "cleared_unacknowledged"
    entry.cleared_ts_ms = ts_ms
    return _event(machine, entry, "cleared", ts_ms, by=by)


def acknowledge(
    machine: MachineState, entry: AlarmEntry, *, ts_ms: int, by: str, comment: str = ""
) -> AlarmEvent:
    if entry.state == "active_unacknowledged":
        entry.state = "active_acknowledged"
    elif entry.state == "cleared_unacknowledged":
        entry.state = "normal"
    else:
        reasons = {
            "normal": "is normal: there is nothing to acknowledge",
            "active_acknowledged": "is already acknowledged",
            "shelved": "is shelved: unshelve it first",
        }
        raise ActionRefused(f"alarm {machine.alarm_id(entry)} {reasons[entry.state]}")
    entry.acknowledged_by = by
    entry.acknowledged_ts_ms = ts_ms
    entry.comment = comment
    return _event(machine, entry, "acknowledged", ts_ms, by=by, comment=comment)


def shelve(
    machine: MachineState,
    entry: AlarmEntry,
    *,
    ts_ms: int,
    by: str,
    until_ts_ms: int,
    comment: str = "",
) -> AlarmEvent:
    if entry.state == "shelved":
        raise ActionRefused(
            f"alarm {machine.alarm_id(entry)} is already shelved until "
            f"{entry.shelved_until_ts_ms}: unshelve it first"
        )
    if until_ts_ms <= ts_ms:
        raise ActionRefused(
            f"shelve_until_ts_ms: {until_ts_ms} is not after the action's ts_ms {ts_ms}"
        )
    entry.state = "shelved"
    entry.shelved_by = by
    entry.shelved_until_ts_ms = until_ts_ms
    entry.comment = comment
    return _event(machine, entry, "shelved", ts_ms, by=by, comment=comment)


def unshelve(
    machine: MachineState, entry: AlarmEntry, *, ts_ms: int, by: str, comment: str = ""
) -> AlarmEvent:
    """End a shelve (by hand, or ``by=""`` at its expiry): an alarm whose condition is still
    present announces itself again, unacknowledged."""
    if entry.state != "shelved":
        raise ActionRefused(f"alarm {machine.alarm_id(entry)} is not shelved")
    entry.state = "active_unacknowledged" if entry.active else "normal"
    if entry.active:
        entry.acknowledged_by = None
        entry.acknowledged_ts_ms = None
    entry.shelved_by = None
    entry.shelved_until_ts_ms = None
    entry.comment = comment
    return _event(machine, entry, "unshelved", ts_ms, by=by, comment=comment)
