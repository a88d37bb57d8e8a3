"""The rule engine on plain readings: limits, deadband, delays, quality, silence, rules."""

from __future__ import annotations

from alarmrules.engine import EngineConfig, advance, evaluate_reading
from alarmrules.state import MachineState
from contracts.alarms import COMM_LOSS_SENSOR
from contracts.readings import Reading
from contracts.thresholds import Limit, RateOfChangeLimit, SensorThresholds, default_thresholds
from pipeline.alarms.ruleset import RuleSet

T0 = 1_766_241_000_000
NO_SILENCE = EngineConfig(comm_loss_after_ms=None)


def reading(value, *, i=0, machine="42", sensor="temperature_c", quality=None, ms=None):
    return Reading(
        machine_id=machine,
        ts_ms=T0 + (ms if ms is not None else i * 1000),
        values={sensor: value},
        quality={sensor: quality} if quality else {},
        plant="hall-b",
        line="3",
    )


def thresholds(**limits: Limit) -> dict[str, SensorThresholds]:
    return {
        "temperature_c": SensorThresholds(
            machine_id="42",
            sensor="temperature_c",
            limits=limits,  # type: ignore[arg-type]
        )
    }


def run(values, rules=None, config=NO_SILENCE, state=None):
    rules = rules if rules is not None else RuleSet().for_machine("42")
    state = state if state is not None else MachineState("42")
    events = []
    for i, value in enumerate(values):
        events += evaluate_reading(state, reading(value, i=i), rules, config)
    return state, events


def kinds(events):
    return [(e.event, e.rule, e.value) for e in events]


def test_default_rule_raises_above_85_and_clears_below_84_once():
    state, events = run([70.0, 84.9, 85.1, 84.8, 85.2, 84.5, 85.3, 84.2, 86.0, 84.1, 83.9])
    assert kinds(events) == [("raised", "high", 85.1), ("cleared", "high", 83.9)]
    raised, cleared = events
    assert raised.alarm_id == "42:temperature_c:high"
    assert raised.state == "active_unacknowledged"
    assert raised.severity == "high"
    assert raised.threshold == 85.0
    assert raised.message == "temperature_c 85.1 above 85.0 on machine 42"
    assert (raised.plant, raised.line) == ("hall-b", "3")
    assert cleared.state == "cleared_unacknowledged"
    assert cleared.message == "temperature_c 83.9 back below 84.0 on machine 42"
    assert [raised.seq, cleared.seq] == [1, 2]
    assert state.alarms["temperature_c:high"].state == "cleared_unacknowledged"


def test_four_limits_each_their_own_alarm_with_deadband():
    rules = thresholds(
        high_high=Limit(value=100, deadband=2, severity="critical"),
        high=Limit(value=80, deadband=1),
        low=Limit(value=10, deadband=1, severity="medium"),
        low_low=Limit(value=0, deadband=1, severity="critical"),
    )
    _, events = run([50, 85, 101, 99, 97, 78, 9, 10.5, 11.5, -1, 0.5, 1.5], rules)
    assert kinds(events) == [
        ("raised", "high", 85),
        ("raised", "high_high", 101),
        ("cleared", "high_high", 97),
        ("cleared", "high", 78),
        ("raised", "low", 9),
        ("cleared", "low", 11.5),
        ("raised", "low", -1),
        ("raised", "low_low", -1),
        # 1.5 is back above low_low + deadband, not above low + deadband (11).
        ("cleared", "low_low", 1.5),
    ]
    assert {e.severity for e in events if e.rule == "high_high"} == {"critical"}


def test_on_delay_needs_the_condition_to_last():
    rules = thresholds(high=Limit(value=80, on_delay_s=3))
    # 2 s above, back below (no alarm), then 3 s above (alarm at the delay's end).
    _, events = run([85, 86, 70, 85, 86, 87, 88], rules)
    assert kinds(events) == [("raised", "high", 88)]
    assert events[0].ts_ms == T0 + 6000


def test_off_delay_needs_the_condition_gone_that_long():
    rules = thresholds(high=Limit(value=80, off_delay_s=2))
    _, events = run([85, 70, 85, 70, 70, 70], rules)
    assert kinds(events) == [("raised", "high", 85), ("cleared", "high", 70)]
    assert events[1].ts_ms == T0 + 5000


def test_delay_fires_on_time_passing_without_a_reading():
    rules = thresholds(high=Limit(value=80, on_delay_s=5))
    state, events = run([85], rules)
    assert events == []
    assert advance(state, T0 + 4999, rules, NO_SILENCE) == []
    fired = advance(state, T0 + 7000, rules, NO_SILENCE)
    assert kinds(fired) == [("raised", "high", 85)]
    assert fired[0].ts_ms == T0 + 5000


def test_realarm_delay_suppresses_chattering_after_a_clear():
    rules = thresholds(high=Limit(value=80, realarm_delay_s=3))
    _, events = run([85, 70, 85, 70, 85, 70, 85, 86, 87, 88], rules)
    assert kinds(events) == [
        ("raised", "high", 85),
        ("cleared", "high", 70),
        ("raised", "high", 88),
    ]
    assert events[2].ts_ms == T0 + 9000


def test_flapping_value_never_duplicates_an_active_alarm():
    _, events = run([90, 91, 84.5, 92, 84.01, 95, 99, 86])
    assert kinds(events) == [("raised", "high", 90)]


def test_bad_and_stale_values_are_not_judged_against_limits():
    rules = RuleSet().for_machine("42")
    state = MachineState("42")
    events = evaluate_reading(state, reading(99.0, quality="bad"), rules, NO_SILENCE)
    events += evaluate_reading(state, reading(99.0, i=1, quality="comm_loss"), rules, NO_SILENCE)
    assert [e.rule for e in events] == ["comm_loss"]
    events = evaluate_reading(state, reading(99.0, i=2, quality="uncertain"), rules, NO_SILENCE)
    assert kinds(events) == [("cleared", "comm_loss", 0.0), ("raised", "high", 99.0)]


def test_comm_loss_quality_raises_the_machine_alarm_and_a_good_reading_clears_it():
    state = MachineState("42")
    rules = RuleSet().for_machine("42")
    events = evaluate_reading(state, reading(50, quality="comm_loss"), rules, NO_SILENCE)
    assert [(e.alarm_id, e.event) for e in events] == [
        (f"42:{COMM_LOSS_SENSOR}:comm_loss", "raised")
    ]
    events = evaluate_reading(state, reading(50, i=1), rules, NO_SILENCE)
    assert [(e.rule, e.event, e.state) for e in events] == [
        ("comm_loss", "cleared", "cleared_unacknowledged")
    ]


def test_silence_raises_comm_loss_at_the_deadline_and_the_next_reading_clears_it():
    config = EngineConfig(comm_loss_after_ms=30_000)
    rules = RuleSet().for_machine("42")
    state = MachineState("42")
    evaluate_reading(state, reading(50), rules, config)
    assert advance(state, T0 + 29_999, rules, config) == []
    events = advance(state, T0 + 45_000, rules, config)
    assert [(e.rule, e.event, e.ts_ms) for e in events] == [("comm_loss", "raised", T0 + 30_000)]
    assert advance(state, T0 + 50_000, rules, config) == []  # one active alarm only
    events = evaluate_reading(state, reading(50, ms=60_000), rules, config)
    assert [(e.rule, e.event) for e in events] == [("comm_loss", "cleared")]


def test_stale_from_quality_flag_and_from_no_good_value():
    record = SensorThresholds(machine_id="42", sensor="temperature_c", stale_after_s=10)
    rules = {"temperature_c": record}
    state = MachineState("42")
    events = evaluate_reading(state, reading(50, quality="stale"), rules, NO_SILENCE)
    assert [(e.rule, e.event) for e in events] == [("stale", "raised")]
    events = evaluate_reading(state, reading(50, i=1), rules, NO_SILENCE)
    assert [(e.rule, e.event) for e in events] == [("stale", "cleared")]
    # Bad values only, for longer than stale_after_s: stale by time.
    events = []
    for i in range(2, 15):
        events += evaluate_reading(state, reading(50, i=i, quality="bad"), rules, NO_SILENCE)
    assert [(e.rule, e.event, e.ts_ms) for e in events] == [("stale", "raised", T0 + 11_000)]


def test_rate_of_change():
    record = SensorThresholds(
        machine_id="42", sensor="temperature_c", rate_of_change=RateOfChangeLimit(per_s=2.0)
    )
    _, events = run([50, 51, 55, 56, 57], {"temperature_c": record})
    assert [(e.event, e.rule, e.value) for e in events] == [
        ("raised", "rate_of_change", 4.0),
        ("cleared", "rate_of_change", 1.0),
    ]


def test_out_of_order_and_replayed_readings_are_skipped():
    rules = RuleSet().for_machine("42")
    state = MachineState("42")
    assert evaluate_reading(state, reading(90, i=5), rules, NO_SILENCE)
    assert evaluate_reading(state, reading(70, i=4), rules, NO_SILENCE) == []
    assert evaluate_reading(state, reading(70, i=5), rules, NO_SILENCE) == []
    assert state.alarms["temperature_c:high"].active


def test_removed_or_disabled_rule_clears_its_active_alarm():
    rules = thresholds(high=Limit(value=80))
    state, events = run([85], rules)
    assert kinds(events) == [("raised", "high", 85)]
    disabled = thresholds(high=Limit(value=80, enabled=False))
    events = evaluate_reading(state, reading(85, i=1), disabled, NO_SILENCE)
    assert [(e.event, e.rule) for e in events] == [("cleared", "high")]
    assert "rule removed or disabled" in events[0].message


def test_ruleset_machine_record_replaces_the_default_and_tombstone_restores_it():
    rules = RuleSet()
    assert rules.for_sensor("7", "temperature_c") == default_thresholds()[0]
    own = SensorThresholds(machine_id="7", sensor="temperature_c", limits={"high": Limit(value=60)})
    rules.put(own)
    assert rules.for_sensor("7", "temperature_c") == own
    assert rules.for_sensor("8", "temperature_c") == default_thresholds()[0]
    rules.delete("7", "temperature_c")
    assert rules.for_sensor("7", "temperature_c") == default_thresholds()[0]
    rules.delete("*", "temperature_c")
    assert rules.for_machine("7") == {}


def test_state_round_trips_through_its_stored_dict():
    rules = thresholds(high=Limit(value=80, on_delay_s=5), low=Limit(value=10))
    state, _ = run([85, 5], rules)
    stored = state.to_dict()
    assert MachineState.from_dict("42", stored).to_dict() == stored
    # The layout before this engine (entries keyed at the top) loads as a fresh state.
    assert MachineState.from_dict("42", {"temperature_c:high": {"state": "normal"}}).alarms == {}


def test_history_older_than_the_last_evaluated_reading_fires_nothing():
    """A backfilled day of overheats and lost communication, imported after a live reading,
    neither raises an alarm nor moves the machine's state back in time."""
    rules = RuleSet().for_machine("42")
    state = MachineState("42")
    day_ms = 86_400_000
    assert evaluate_reading(state, reading(70, ms=day_ms), rules, NO_SILENCE) == []
    for i in range(100):
        hot = reading(99.0, ms=i * 1000, quality="comm_loss" if i % 2 else None)
        assert evaluate_reading(state, hot, rules, NO_SILENCE) == []
    assert state.last_ts_ms == T0 + day_ms
    assert not any(entry.active for entry in state.alarms.values())
    # A machine seen for the first time evaluates its history: its overheats raise.
    fresh = MachineState("42")
    assert kinds(evaluate_reading(fresh, reading(99.0, ms=0), rules, NO_SILENCE)) == [
        ("raised", "high", 99.0)
    ]
