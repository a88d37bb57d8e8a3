import orjson
import pytest

from contracts.alarms import decode_alarm
from contracts.readings import Reading
from pipeline.alarm_rules import HighLimitRule, active_alarms, evaluate

RULE = HighLimitRule(sensor="temperature_c", limit=85.0, deadband=1.0, severity="high")
T0 = 1_766_241_000_000


def reading(value, *, i=0, machine="42", quality=None, sensor="temperature_c"):
    return Reading(
        machine_id=machine,
        ts_ms=T0 + i * 1000,
        values={sensor: value},
        quality={sensor: quality} if quality else {},
    )


def run(values, state=None, rules=(RULE,), start=0):
    events = []
    for offset, value in enumerate(values):
        state, new = evaluate(state, reading(value, i=start + offset), rules)
        events.extend(new)
    return state, events


def test_value_above_limit_raises_with_deterministic_id_and_message():
    state, events = evaluate(None, reading(86.2), [RULE])
    assert len(events) == 1
    event = events[0]
    assert event.event == "raised"
    assert event.state == "active_unacknowledged"
    assert event.alarm_id == "42:temperature_c:high"
    assert (event.machine_id, event.sensor, event.rule) == ("42", "temperature_c", "high")
    assert event.severity == "high"
    assert event.value == 86.2
    assert event.threshold == 85.0
    assert event.ts_ms == T0
    assert event.message == "temperature_c 86.2 above 85.0 on machine 42"
    assert active_alarms(state) == ["temperature_c:high"]


def test_value_at_limit_does_not_raise():
    state, events = run([85.0, 70.0])
    assert events == []
    assert active_alarms(state) == []


def test_flapping_around_the_limit_raises_once():
    _, events = run([84.9, 85.1, 84.8, 85.2, 84.5, 85.3, 84.01, 86.0])
    assert [e.event for e in events] == ["raised"]
    assert events[0].value == 85.1


def test_clears_only_below_limit_minus_deadband():
    _, events = run([86.0, 84.0, 84.5, 83.99])
    assert [e.event for e in events] == ["raised", "cleared"]
    cleared = events[1]
    assert cleared.state == "cleared_unacknowledged"
    assert cleared.value == 83.99
    assert cleared.ts_ms == T0 + 3000
    assert cleared.alarm_id == events[0].alarm_id
    assert cleared.message == "temperature_c 83.99 back below 84.0 on machine 42"


def test_rise_after_clear_raises_again():
    _, events = run([86.0, 80.0, 85.5, 85.7, 70.0])
    assert [(e.event, e.value) for e in events] == [
        ("raised", 86.0),
        ("cleared", 80.0),
        ("raised", 85.5),
        ("cleared", 70.0),
    ]


def test_zero_deadband_clears_just_below_limit():
    rule = HighLimitRule(sensor="temperature_c", limit=85.0)
    _, events = run([85.5, 85.0, 84.99], rules=(rule,))
    assert [e.event for e in events] == ["raised", "cleared"]
    assert events[1].value == 84.99


def test_state_is_a_small_json_round_trippable_dict():
    state, _ = run([86.0])
    restored = orjson.loads(orjson.dumps(state))
    assert restored == {"temperature_c:high": {"state": "active_unacknowledged", "ts_ms": T0}}
    _, events = evaluate(restored, reading(85.5, i=1), [RULE])
    assert events == []
    _, events = evaluate(restored, reading(80.0, i=2), [RULE])
    assert [e.event for e in events] == ["cleared"]


def test_state_changes_only_on_transitions():
    state, _ = run([86.0])
    same, events = evaluate(state, reading(87.0, i=5), [RULE])
    assert events == []
    assert same == state


def test_replay_over_recorded_state_emits_nothing_again():
    values = [70.0, 86.0, 85.5, 83.0, 90.0]
    state, events = run(values)
    assert [e.event for e in events] == ["raised", "cleared", "raised"]
    replayed_state, replayed = run(values, state=state)
    assert replayed == []
    assert replayed_state == state


def test_replay_of_a_tail_after_state_was_kept_reproduces_the_same_events():
    # Worker kept the state of the first transition, then died before the second batch
    # was committed: the tail is consumed again from that state.
    values = [86.0, 85.5, 80.0, 86.5]
    first_state, first_events = run(values[:1])
    _, tail_events = run(values[1:], state=first_state, start=1)
    _, all_events = run(values)
    assert first_events + tail_events == all_events


def test_replay_from_empty_state_reproduces_identical_events():
    values = [70.0, 86.0, 85.5, 83.0]
    _, first = run(values)
    _, second = run(values)
    assert first == second
    assert [e.encode() for e in first] == [e.encode() for e in second]


def test_out_of_order_older_reading_is_ignored():
    state, _ = run([86.0], start=10)
    _, events = evaluate(state, reading(50.0, i=3), [RULE])
    assert events == []


def test_bad_quality_value_is_not_evaluated():
    _, events = evaluate(None, reading(99.0, quality="bad"), [RULE])
    assert events == []
    _, events = evaluate(None, reading(99.0, quality="uncertain"), [RULE])
    assert [e.event for e in events] == ["raised"]


def test_reading_without_the_sensor_changes_nothing():
    state, events = evaluate(None, reading(99.0, sensor="pressure_bar"), [RULE])
    assert events == []
    assert state == {}


def test_each_sensor_and_rule_is_its_own_alarm():
    rules = (RULE, HighLimitRule(sensor="pressure_bar", limit=6.0, severity="critical"))
    r = Reading(machine_id="7", ts_ms=T0, values={"temperature_c": 90.0, "pressure_bar": 7.5})
    state, events = evaluate(None, r, rules)
    assert [(e.alarm_id, e.severity) for e in events] == [
        ("7:temperature_c:high", "high"),
        ("7:pressure_bar:high", "critical"),
    ]
    assert active_alarms(state) == ["pressure_bar:high", "temperature_c:high"]


def test_acknowledged_alarm_returns_to_normal_when_cleared():
    state = {"temperature_c:high": {"state": "active_acknowledged", "ts_ms": T0}}
    new_state, events = evaluate(state, reading(70.0, i=1), [RULE])
    assert [(e.event, e.state) for e in events] == [("cleared", "normal")]
    assert new_state["temperature_c:high"]["state"] == "normal"


def test_events_travel_on_the_alarms_topic_contract():
    _, events = run([86.2])
    decoded = decode_alarm(events[0].encode())
    assert decoded == events[0]
    assert events[0].key() == b"42:temperature_c:high"


def test_negative_deadband_is_refused():
    with pytest.raises(ValueError, match="deadband"):
        HighLimitRule(sensor="temperature_c", limit=85.0, deadband=-1.0)
