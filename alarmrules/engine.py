"""The rule engine: readings and the passing of time in, events out.

Pure code on a :class:`~alarmrules.state.MachineState` (mutated in place; the caller
loads a fresh copy and stores it back). Two inputs:

- :func:`evaluate_reading`: one reading against the rules of its machine's sensors;
- :func:`advance`: time passes to ``at_ms`` (reading time): on- and off-delays that fall
  due fire, a sensor with no good value for ``stale_after_s`` goes stale, a machine with no
  reading for the comm-loss time loses communication. The processor's timer calls it with
  the machine's clock estimated from wall time; :func:`evaluate_reading` calls it first
  with the reading's time, so the outcome depends on the readings alone, not on when the
  timer ran (values are held until the next reading, as SCADA does).

Operator actions (acknowledge, shelve, unshelve, log, clear) and shelves that run out are
:mod:`alarmrules.actions`.

Limit alarms evaluate values of quality ``good`` and ``uncertain`` only: a ``bad``,
``stale`` or ``comm_loss`` value says nothing about the process. A ``stale`` quality raises
the sensor's ``stale`` alarm, a ``comm_loss`` quality on any value the machine's
``comm_loss`` alarm (sensor :data:`contracts.alarms.COMM_LOSS_SENSOR`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alarmrules.delays import Condition, observe
from alarmrules.lifecycle import set_condition
from alarmrules.state import AlarmEntry, MachineState, SensorMemory
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


def _num(value: float) -> str:
    return repr(round(value, 3))


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _entry_of(state: MachineState, sensor: str, rule: str) -> AlarmEntry | None:
    return state.alarms.get(f"{sensor}:{rule}")


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
        event = set_condition(
            state,
            entry,
            present=pending.kind == "raise",
            ts_ms=due_ms,
            value=pending.value,
            message=pending.message,
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
        event = set_condition(
            state,
            entry,
            present=False,
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
    events += _comm_loss_events(state, reading, config)
    for sensor, record in rules.items():
        events += _sensor_events(state, reading, sensor, record)
    events += _retired(state, rules, ts)
    state.last_ts_ms = ts
    return events


def _comm_loss_events(
    state: MachineState, reading: Reading, config: EngineConfig
) -> list[AlarmEvent]:
    machine_id = state.machine_id
    comm_lost = "comm_loss" in reading.quality.values() if reading.quality else False
    # Most readings change nothing: skip building conditions and messages for them.
    if not comm_lost and _COMM_LOSS_KEY not in state.alarms:
        return []
    return observe(
        state,
        _comm_loss_condition(config),
        present=comm_lost,
        ts_ms=reading.ts_ms,
        value=0.0,
        message=(
            f"machine {machine_id} reports communication loss"
            if comm_lost
            else f"communication with machine {machine_id} restored"
        ),
    )


def _sensor_events(
    state: MachineState, reading: Reading, sensor: str, record: SensorThresholds
) -> list[AlarmEvent]:
    """One sensor's stale, limit and rate-of-change alarms for one reading."""
    ts = reading.ts_ms
    machine_id = state.machine_id
    value = reading.values.get(sensor)
    quality = reading.quality_of(sensor) if value is not None else None
    usable = value is not None and quality in _USABLE
    remember = record.stale_after_s is not None or record.rate_of_change is not None
    memory = state.sensors.get(sensor)
    if remember and memory is None:
        memory = state.sensors[sensor] = SensorMemory()
    events: list[AlarmEvent] = []
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
        return events
    events += _limit_events(state, sensor, record, value, ts)
    if memory is not None:
        events += _rate_events(state, sensor, record, memory, value, ts)
        memory.good_ts_ms = ts
        memory.value = value
        memory.value_ts_ms = ts
    return events


def _limit_events(
    state: MachineState, sensor: str, record: SensorThresholds, value: float, ts: int
) -> list[AlarmEvent]:
    events: list[AlarmEvent] = []
    for kind in LIMIT_KINDS:
        limit = record.limits.get(kind)
        if limit is None or not limit.enabled:
            continue
        entry = _entry_of(state, sensor, kind)
        present = _limit_present(kind, limit, value, was_active=entry is not None and entry.active)
        if (not present) if entry is None else (present == entry.active and entry.pending is None):
            continue  # nothing changes
        events += observe(
            state,
            _limit_condition(sensor, kind, limit),
            present=present,
            ts_ms=ts,
            value=value,
            message=_limit_message(state.machine_id, sensor, kind, limit, value, present=present),
        )
    return events


def _rate_events(
    state: MachineState,
    sensor: str,
    record: SensorThresholds,
    memory: SensorMemory,
    value: float,
    ts: int,
) -> list[AlarmEvent]:
    """The rate-of-change alarm, against the last good value the sensor's memory holds."""
    rate = record.rate_of_change
    if rate is None or not rate.enabled or memory.value is None or memory.value_ts_ms is None:
        return []
    machine_id = state.machine_id
    dt_s = (ts - memory.value_ts_ms) / 1000
    per_s = abs(value - memory.value) / dt_s if dt_s > 0 else 0.0
    present = per_s > rate.per_s
    return observe(
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
