"""A backtest is the engine's own evaluation of a history with one rule."""

from __future__ import annotations

import math

from alarmrules.backtest import replay
from alarmrules.engine import EngineConfig, evaluate_reading
from alarmrules.state import MachineState
from contracts.readings import Reading
from contracts.thresholds import Limit, SensorThresholds, default_thresholds

T0 = 1_766_241_000_000


def _history(seconds: int = 600) -> list[Reading]:
    """A temperature swinging between 70 and 90 every 100 s; in each cycle's cool half a
    2 s spike to 88 and, later, a 2 s bump to 78; a bad value now and then that must not
    be judged."""
    out = []
    for s in range(seconds):
        value = 80.0 + 10.0 * math.sin(2 * math.pi * s / 100)
        if s % 100 in (75, 76):
            value = 88.0
        if s % 100 in (85, 86):
            value = 78.0
        quality = {"temperature_c": "bad"} if s % 97 == 13 else {}
        if quality:
            value = 200.0
        out.append(
            Reading(
                machine_id="42",
                ts_ms=T0 + s * 1000,
                values={"temperature_c": value, "power_kw": 3.0},
                quality=quality,  # type: ignore[arg-type]
            )
        )
    return out


def _rule(**limit: float) -> SensorThresholds:
    return SensorThresholds(
        machine_id="42", sensor="temperature_c", limits={"high": Limit(**limit)}
    )


def test_counts_match_the_engine_run_with_all_its_rules_and_comm_loss():
    history = _history()
    [default] = default_thresholds()
    state = MachineState(machine_id="42")
    engine_raised = 0
    for reading in history:
        for event in evaluate_reading(state, reading, {"temperature_c": default}, EngineConfig()):
            if event.event == "raised" and event.sensor == "temperature_c":
                engine_raised += 1

    result = replay(machine_id="42", sensor="temperature_c", rule=default, readings=history)

    assert result.raised == engine_raised
    assert result.by_rule == {"high": engine_raised}
    assert result.readings == len(history)
    # Each of the 6 cycles crosses 85 once on the way up and spikes to 88 once.
    assert engine_raised == 12


def test_a_lower_limit_raises_more_and_an_on_delay_ignores_the_spikes():
    history = _history()
    in_force = replay(
        machine_id="42", sensor="temperature_c", rule=_rule(value=85, deadband=1), readings=history
    )
    lower = replay(
        machine_id="42", sensor="temperature_c", rule=_rule(value=75, deadband=1), readings=history
    )
    delayed = replay(
        machine_id="42",
        sensor="temperature_c",
        rule=_rule(value=85, deadband=1, on_delay_s=5),
        readings=history,
    )
    assert lower.raised > in_force.raised
    # 75: also the bump, and the first reading (80) is above it already.
    assert (in_force.raised, lower.raised) == (12, 19)
    assert lower.time_in_alarm_ms > in_force.time_in_alarm_ms > 0
    assert delayed.raised == 6  # the 2 s spikes never last 5 s
    assert delayed.raised_events[0].ts_ms > in_force.raised_events[0].ts_ms


def test_no_rule_raises_nothing_and_keep_caps_the_events():
    history = _history()
    assert replay(machine_id="42", sensor="temperature_c", rule=None, readings=history).raised == 0
    capped = replay(
        machine_id="42", sensor="temperature_c", rule=_rule(value=75), readings=history, keep=2
    )
    assert capped.raised > 2 and len(capped.raised_events) == 2


def test_until_ms_fires_a_pending_delay_and_counts_time_in_alarm_to_the_end():
    history = [
        Reading(machine_id="42", ts_ms=T0 + s * 1000, values={"temperature_c": 90.0})
        for s in range(3)
    ]
    rule = _rule(value=85, on_delay_s=10)
    assert replay(machine_id="42", sensor="temperature_c", rule=rule, readings=history).raised == 0
    result = replay(
        machine_id="42", sensor="temperature_c", rule=rule, readings=history, until_ms=T0 + 60_000
    )
    assert result.raised == 1
    assert result.time_in_alarm_ms == 50_000


def test_several_rules_in_one_pass_equal_one_replay_each():
    from alarmrules.backtest import replay_each

    history = _history()
    rules = [_rule(value=85, deadband=1), _rule(value=75, deadband=1), None]
    together = replay_each(machine_id="42", sensor="temperature_c", rules=rules, readings=history)
    alone = [
        replay(machine_id="42", sensor="temperature_c", rule=r, readings=history) for r in rules
    ]
    assert together == alone
