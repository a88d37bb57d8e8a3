"""The rule engine: readings, the passing of time and operator actions in, events out.

Pure code on a :class:`~alarmrules.state.MachineState` (mutated in place; the caller
loads a fresh copy and stores it back). Three inputs:

- :func:`evaluate_reading`: one reading against the rules of its machine's sensors;
- :func:`advance`: time passes to ``at_ms`` (reading time): on- and off-delays that fall
  due fire, a sensor with no good value for ``stale_after_s`` goes stale, a machine with no
  reading for the comm-loss time loses communication. The processor's timer calls it with
  the machine's clock estimated from wall time; :func:`evaluate_reading` calls it first
  with the reading's time, so the outcome depends on the readings alone, not on when the
  timer ran (values are held until the next reading, as SCADA does);
- :func:`apply_action`: acknowledge, shelve, unshelve, log, clear; refused with
  :class:`~alarmrules.lifecycle.ActionRefused` when the state does not allow it.
  :func:`expire_shelves` ends shelves whose time is up.

Limit alarms evaluate values of quality ``good`` and ``uncertain`` only: a ``bad``,
``stale`` or ``comm_loss`` value says nothing about the process. A ``stale`` quality raises
the sensor's ``stale`` alarm, a ``comm_loss`` quality on any value the machine's
``comm_loss`` alarm (sensor :data:`contracts.alarms.COMM_LOSS_SENSOR`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alarmrules.lifecycle import (
    ActionRefused,
    acknowledge,
    clear_alarm,
    raise_alarm,
    shelve,
    unshelve,
)
from alarmrules.state import AlarmEntry, MachineState, Pending, SensorMemory
from contracts.alarm_actions import AlarmAction
from contracts.alarms import COMM_LOSS_SENSOR, AlarmEvent, Severity
from contracts.readings import Reading
from contracts.thresholds import LIMIT_KINDS, Limit, SensorThresholds

Rules = Mapping[str, SensorThresholds]
_USABLE = frozenset(("good", "uncertain"))
_COMM_LOSS_KEY = f"{COMM_LOSS_SENSOR}:comm_loss"
_UPPER = frozenset(("high", "high_high"))


@dataclass(frozen=True, slots=True)
class EngineConfig:
    # No reading from a machine for this long raises its comm_loss alarm; None: never.
    comm_loss_after_ms: int | None = 60_000
    comm_loss_severity: Severity = "high"


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


def _num(value: float) -> str:
    return repr(round(value, 3))


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _entry_of(state: MachineState, sensor: str, rule: str) -> AlarmEntry | None:
    return state.alarms.get(f"{sensor}:{rule}")


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
        entry = state.alarms[key] = AlarmEntry(
            sensor=cond.sensor, rule=cond.rule, severity=cond.severity, threshold=cond.threshold
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
        event = raise_alarm(state, entry, ts_ms=ts_ms, value=value, message=message)
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
        event = clear_alarm(state, entry, ts_ms=ts_ms, value=value, message=message)
    return [event] if event is not None else []


def _limit_condition(sensor: str, kind: str, limit: Limit) -> Condition:
    return Condition(
        sensor=sensor,
        rule=kind,
        severity=limit.severity,
        threshold=limit.value,
        on_delay_ms=_ms(limit.on_delay_s),
        off_delay_ms=_ms(limit.off_delay_s),
        realarm_delay_ms=_ms(limit.realarm_delay_s),
    )


def _limit_present(kind: str, limit: Limit, value: float, *, was_active: bool) -> bool:
    """Beyond the limit to raise; back inside by more than the deadband to clear."""
    if kind in _UPPER:
        return not value < limit.value - limit.deadband if was_active else value > limit.value
    return not value > limit.value + limit.deadband if was_active else value < limit.value


def _limit_message(
    machine_id: str, sensor: str, kind: str, limit: Limit, value: float, *, present: bool
) -> str:
    upper = kind in _UPPER
    if present:
        text = limit.message or (
            f"{sensor} {_num(value)} {'above' if upper else 'below'} {_num(limit.value)}"
        )
        return f"{text} on machine {machine_id}"
    back = limit.value - limit.deadband if upper else limit.value + limit.deadband
    return f"{sensor} {_num(value)} back {'below' if upper else 'above'} {_num(back)} " + (
        f"on machine {machine_id}"
    )


def _stale_condition(record: SensorThresholds) -> Condition:
    return Condition(
        sensor=record.sensor,
        rule="stale",
        severity=record.stale_severity,
        threshold=record.stale_after_s or 0.0,
    )


def _comm_loss_condition(config: EngineConfig) -> Condition:
    return Condition(
        sensor=COMM_LOSS_SENSOR,
        rule="comm_loss",
        severity=config.comm_loss_severity,
        threshold=(config.comm_loss_after_ms or 0) / 1000,
    )


def advance(
    state: MachineState, at_ms: int, rules: Rules, config: EngineConfig
) -> list[AlarmEvent]:
    """Time passes to ``at_ms`` (the machine's clock) with no new reading."""
    events: list[AlarmEvent] = []
    due = sorted(
        (entry.pending.due_ms, key)
        for key, entry in state.alarms.items()
        if entry.pending is not None and entry.pending.due_ms <= at_ms
    )
    for due_ms, key in due:
        entry = state.alarms[key]
        pending = entry.pending
        assert pending is not None
        if pending.kind == "raise":
            event = raise_alarm(
                state, entry, ts_ms=due_ms, value=pending.value, message=pending.message
            )
        else:
            event = clear_alarm(
                state, entry, ts_ms=due_ms, value=pending.value, message=pending.message
            )
        if event is not None:
            events.append(event)
    for sensor, record in rules.items():
        memory = state.sensors.get(sensor)
        if record.stale_after_s is None or memory is None or memory.good_ts_ms is None:
            continue
        after_ms = _ms(record.stale_after_s)
        if at_ms - memory.good_ts_ms >= after_ms:
            events += observe(
                state,
                _stale_condition(record),
                present=True,
                ts_ms=memory.good_ts_ms + after_ms,
                value=record.stale_after_s,
                message=f"{sensor}: no good value for {_num(record.stale_after_s)} s "
                f"on machine {state.machine_id}",
            )
    after_ms_cl = config.comm_loss_after_ms
    last_ms = state.last_ts_ms
    if after_ms_cl is not None and last_ms is not None and at_ms - last_ms >= after_ms_cl:
        events += observe(
            state,
            _comm_loss_condition(config),
            present=True,
            ts_ms=last_ms + after_ms_cl,
            value=after_ms_cl / 1000,
            message=f"no reading from machine {state.machine_id} for {_num(after_ms_cl / 1000)} s",
        )
    return events


def _retired(state: MachineState, rules: Rules, ts_ms: int) -> list[AlarmEvent]:
    """Clear active alarms whose rule was removed or disabled (no rule, no condition)."""
    events: list[AlarmEvent] = []
    for entry in list(state.alarms.values()):
        if not (entry.active or entry.pending is not None):
            continue
        record = rules.get(entry.sensor)
        if entry.rule in LIMIT_KINDS:
            limit = record.limits.get(entry.rule) if record else None
            alive = limit is not None and limit.enabled
        elif entry.rule == "rate_of_change":
            rate = record.rate_of_change if record else None
            alive = rate is not None and rate.enabled
        elif entry.rule == "stale":
            alive = record is not None
        else:
            continue
        if alive:
            continue
        entry.pending = None
        event = clear_alarm(
            state,
            entry,
            ts_ms=ts_ms,
            value=entry.value,
            message=f"{entry.sensor} {entry.rule} rule removed or disabled "
            f"on machine {state.machine_id}",
        )
        if event is not None:
            events.append(event)
    return events


def evaluate_reading(
    state: MachineState, reading: Reading, rules: Rules, config: EngineConfig
) -> list[AlarmEvent]:
    """Apply ``rules`` (sensor -> thresholds of this machine) to one reading.

    A reading no newer than the last one evaluated is skipped: replays repeat nothing.
    """
    ts = reading.ts_ms
    if state.last_ts_ms is not None and ts <= state.last_ts_ms:
        return []
    # Values hold until the next reading: what falls due before it happened first.
    events = advance(state, ts - 1, rules, config)
    if reading.plant:
        state.plant = reading.plant
    if reading.line:
        state.line = reading.line
    machine_id = state.machine_id
    comm_lost = "comm_loss" in reading.quality.values() if reading.quality else False
    # Most readings change nothing: skip building conditions and messages for them.
    if comm_lost or _COMM_LOSS_KEY in state.alarms:
        events += observe(
            state,
            _comm_loss_condition(config),
            present=comm_lost,
            ts_ms=ts,
            value=0.0,
            message=(
                f"machine {machine_id} reports communication loss"
                if comm_lost
                else f"communication with machine {machine_id} restored"
            ),
        )
    for sensor, record in rules.items():
        value = reading.values.get(sensor)
        quality = reading.quality_of(sensor) if value is not None else None
        usable = value is not None and quality in _USABLE
        remember = record.stale_after_s is not None or record.rate_of_change is not None
        memory = state.sensors.get(sensor)
        if remember and memory is None:
            memory = state.sensors[sensor] = SensorMemory()
        if quality == "stale" or (usable and f"{sensor}:stale" in state.alarms):
            events += observe(
                state,
                _stale_condition(record),
                present=quality == "stale",
                ts_ms=ts,
                value=0.0,
                message=(
                    f"{sensor} reported stale on machine {machine_id}"
                    if quality == "stale"
                    else f"{sensor} fresh again on machine {machine_id}"
                ),
            )
        if not usable or value is None:
            continue
        for kind in LIMIT_KINDS:
            limit = record.limits.get(kind)
            if limit is None or not limit.enabled:
                continue
            entry = _entry_of(state, sensor, kind)
            present = _limit_present(
                kind, limit, value, was_active=entry is not None and entry.active
            )
            if (
                (not present)
                if entry is None
                else (present == entry.active and entry.pending is None)
            ):
                continue  # nothing changes
            events += observe(
                state,
                _limit_condition(sensor, kind, limit),
                present=present,
                ts_ms=ts,
                value=value,
                message=_limit_message(machine_id, sensor, kind, limit, value, present=present),
            )
        rate = record.rate_of_change
        if (
            rate is not None
            and rate.enabled
            and memory is not None
            and memory.value is not None
            and memory.value_ts_ms is not None
        ):
            dt_s = (ts - memory.value_ts_ms) / 1000
            per_s = abs(value - memory.value) / dt_s if dt_s > 0 else 0.0
            present = per_s > rate.per_s
            events += observe(
                state,
                Condition(
                    sensor=sensor,
                    rule="rate_of_change",
                    severity=rate.severity,
                    threshold=rate.per_s,
                    on_delay_ms=_ms(rate.on_delay_s),
                    off_delay_ms=_ms(rate.off_delay_s),
                ),
                present=present,
                ts_ms=ts,
                value=per_s,
                message=(
                    f"{sensor} changing {_num(per_s)}/s, faster than {_num(rate.per_s)}/s "
                    f"on machine {machine_id}"
                    if present
                    else f"{sensor} rate of change back to {_num(per_s)}/s on machine {machine_id}"
                ),
            )
        if memory is not None:
            memory.good_ts_ms = ts
            memory.value = value
            memory.value_ts_ms = ts
    events += _retired(state, rules, ts)
    state.last_ts_ms = ts
    return events


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
            entry = state.alarms[key] = AlarmEntry(sensor=action.sensor, rule=action.rule)
        if entry.active:
            raise ActionRefused(f"alarm {action.alarm_id} is already active")
        entry.severity = action.severity
        entry.threshold = action.value if action.value is not None else 0.0
        event = raise_alarm(
            state,
            entry,
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
        event = clear_alarm(
            state,
            entry,
            ts_ms=ts,
            value=entry.value,
            message=action.message or f"cleared by {action.by}",
            by=action.by,
        )
    elif action.action == "acknowledge":
        event = acknowledge(state, entry, ts_ms=ts, by=action.by, comment=action.comment)
    elif action.action == "shelve":
        assert action.shelve_until_ts_ms is not None
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
