"""A stretch of one sensor's history replayed through the engine with a chosen rule.

This is the engine's own code (:func:`~alarmrules.engine.evaluate_reading` and
:func:`~alarmrules.engine.advance`) on a fresh machine state, so a backtest counts the
alarms the pipeline would have raised had the rule been in force over the stretch: same
limits, deadbands, on-, off- and re-alarm delays, rate of change and stale data.
Communication loss is left out (it concerns the machine, not the rule being tried).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from alarmrules.engine import EngineConfig, advance, evaluate_reading
from alarmrules.state import MachineState
from contracts.alarms import AlarmEvent
from contracts.readings import Reading
from contracts.thresholds import SensorThresholds

_NO_COMM_LOSS = EngineConfig(comm_loss_after_ms=None)


@dataclass(slots=True)
class BacktestResult:
    """What the rule raised: the count, per rule name, how long its alarms were active,
    and the first ``keep`` raised events (oldest first)."""

    raised: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    time_in_alarm_ms: int = 0
    raised_events: list[AlarmEvent] = field(default_factory=list)
    readings: int = 0


def replay(
    *,
    machine_id: str,
    sensor: str,
    rule: SensorThresholds | None,
    readings: Iterable[Reading],
    until_ms: int | None = None,
    keep: int = 500,
) -> BacktestResult:
    """Evaluate ``readings`` (oldest first) of ``machine_id`` against ``rule`` alone;
    ``until_ms``: time then passes to this instant (delays due by then fire, an alarm
    still active counts as active until then)."""
    [result] = replay_each(
        machine_id=machine_id,
        sensor=sensor,
        rules=[rule],
        readings=readings,
        until_ms=until_ms,
        keep=keep,
    )
    return result


class _Side:
    """One rule's replay: its own machine state and tally."""

    def __init__(self, machine_id: str, sensor: str, rule: SensorThresholds | None, keep: int):
        self.sensor = sensor
        self.rules = {sensor: rule} if rule is not None else {}
        self.state = MachineState(machine_id=machine_id)
        self.result = BacktestResult()
        self.keep = keep
        self.active_since: dict[str, int] = {}

    def count(self, events: list[AlarmEvent]) -> None:
        result = self.result
        for event in events:
            if event.sensor != self.sensor:
                continue
            if event.event == "raised":
                result.raised += 1
                result.by_rule[event.rule] = result.by_rule.get(event.rule, 0) + 1
                self.active_since[event.alarm_id] = event.ts_ms
                if len(result.raised_events) < self.keep:
                    result.raised_events.append(event)
            elif event.event == "cleared" and event.alarm_id in self.active_since:
                result.time_in_alarm_ms += event.ts_ms - self.active_since.pop(event.alarm_id)

    def finish(self, end_ms: int) -> None:
        self.count(advance(self.state, end_ms, self.rules, _NO_COMM_LOSS))
        for since in self.active_since.values():
            self.result.time_in_alarm_ms += max(0, end_ms - since)


def replay_each(
    *,
    machine_id: str,
    sensor: str,
    rules: Sequence[SensorThresholds | None],
    readings: Iterable[Reading],
    until_ms: int | None = None,
    keep: int = 500,
) -> list[BacktestResult]:
    """:func:`replay` for several rules in one pass over ``readings`` (each rule with a
    state of its own), so a long history is read, and its readings built, once."""
    sides = [_Side(machine_id, sensor, rule, keep) for rule in rules]
    last_ms: int | None = None
    count = 0
    for reading in readings:
        count += 1
        last_ms = reading.ts_ms
        for side in sides:
            side.count(evaluate_reading(side.state, reading, side.rules, _NO_COMM_LOSS))
    end_ms = until_ms if until_ms is not None else last_ms
    for side in sides:
        side.result.readings = count
        if end_ms is not None:
            side.finish(end_ms)
    return [side.result for side in sides]
