"""ISA-18.2 lifecycle through operator actions: ack, shelve, unshelve, expiry, log, clear."""

from __future__ import annotations

import pytest

from alarmrules.actions import apply_action, expire_shelves
from alarmrules.engine import EngineConfig, evaluate_reading
from alarmrules.lifecycle import ActionRefused
from alarmrules.state import MachineState
from contracts.alarm_actions import AlarmAction
from contracts.readings import Reading
from pipeline.alarms.ruleset import RuleSet

T0 = 1_766_241_000_000
CONFIG = EngineConfig(comm_loss_after_ms=None)
RULES = RuleSet().for_machine("42")
_n = 0


def action(kind: str, *, rule: str = "high", sensor: str = "temperature_c", **extra) -> AlarmAction:
    global _n
    _n += 1
    return AlarmAction(
        action_id=f"a{_n}",
        action=kind,  # type: ignore[arg-type]
        machine_id="42",
        sensor=sensor,
        rule=rule,  # type: ignore[arg-type]
        by="op-ann",
        ts_ms=T0 + 100_000 + _n,
        **extra,
    )


def feed(state: MachineState, *values: float, start: int = 0) -> list:
    events = []
    for i, value in enumerate(values):
        r = Reading(machine_id="42", ts_ms=T0 + (start + i) * 1000, values={"temperature_c": value})
        events += evaluate_reading(state, r, RULES, CONFIG)
    return events


def states(events) -> list[tuple[str, str]]:
    return [(e.event, e.state) for e in events]


def test_ack_while_active_then_clear_goes_to_normal():
    state = MachineState("42")
    feed(state, 90)
    events = apply_action(state, action("acknowledge", comment="on it"))
    assert states(events) == [("acknowledged", "active_acknowledged")]
    assert (events[0].by, events[0].comment, events[0].seq) == ("op-ann", "on it", 2)
    assert states(feed(state, 80, start=1)) == [("cleared", "normal")]


def test_clear_then_ack_goes_to_normal():
    state = MachineState("42")
    feed(state, 90, 80)
    assert states(apply_action(state, action("acknowledge"))) == [("acknowledged", "normal")]
    entry = state.alarms["temperature_c:high"]
    assert (entry.acknowledged_by, entry.seq) == ("op-ann", 3)


@pytest.mark.parametrize(
    ("setup", "kind", "reason"),
    [
        ((), "acknowledge", "unknown alarm"),
        ((90, 80), "unshelve", "is not shelved"),
        ((90,), "clear", "applies only to rule"),
    ],
)
def test_refused_actions_name_the_reason(setup, kind, reason):
    state = MachineState("42")
    feed(state, *setup)
    with pytest.raises((ActionRefused, ValueError), match=reason):
        apply_action(state, action(kind))


def test_ack_of_a_normal_or_acknowledged_alarm_is_refused():
    state = MachineState("42")
    feed(state, 90)
    apply_action(state, action("acknowledge"))
    with pytest.raises(ActionRefused, match="already acknowledged"):
        apply_action(state, action("acknowledge"))
    feed(state, 80, start=1)
    with pytest.raises(ActionRefused, match="is normal: there is nothing to acknowledge"):
        apply_action(state, action("acknowledge"))


def test_shelve_suppresses_and_expiry_brings_an_active_alarm_back_unacknowledged():
    state = MachineState("42")
    feed(state, 90)
    shelve = action("shelve", shelve_until_ts_ms=T0 + 200_000)
    assert states(apply_action(state, shelve)) == [("shelved", "shelved")]
    # Cleared and raised again while shelved: nothing announced, condition tracked.
    assert feed(state, 80, 91, start=1) == []
    assert state.alarms["temperature_c:high"].active
    with pytest.raises(ActionRefused, match="is shelved"):
        apply_action(state, action("acknowledge"))
    assert expire_shelves(state, T0 + 199_999) == []
    events = expire_shelves(state, T0 + 250_000)
    assert states(events) == [("unshelved", "active_unacknowledged")]
    assert (events[0].ts_ms, events[0].comment) == (T0 + 200_000, "shelve expired")


def test_unshelve_of_a_cleared_alarm_returns_to_normal_and_shelve_in_the_past_is_refused():
    state = MachineState("42")
    feed(state, 90)
    with pytest.raises(ActionRefused, match="is not after"):
        apply_action(state, action("shelve", shelve_until_ts_ms=T0))
    apply_action(state, action("shelve", shelve_until_ts_ms=T0 + 10**9))
    with pytest.raises(ActionRefused, match="already shelved"):
        apply_action(state, action("shelve", shelve_until_ts_ms=T0 + 10**9))
    feed(state, 70, start=1)
    assert states(apply_action(state, action("unshelve"))) == [("unshelved", "normal")]


def test_manual_log_and_clear():
    state = MachineState("42")
    log = action(
        "log", rule="manual", sensor="pressure_bar", severity="critical", message="leak", value=3
    )
    events = apply_action(state, log)
    assert [(e.alarm_id, e.event, e.severity, e.message, e.by) for e in events] == [
        ("42:pressure_bar:manual", "raised", "critical", "leak", "op-ann")
    ]
    with pytest.raises(ActionRefused, match="already active"):
        apply_action(state, action("log", rule="manual", sensor="pressure_bar"))
    events = apply_action(state, action("clear", rule="manual", sensor="pressure_bar"))
    assert states(events) == [("cleared", "cleared_unacknowledged")]
    with pytest.raises(ActionRefused, match="is not active"):
        apply_action(state, action("clear", rule="manual", sensor="pressure_bar"))


def test_a_replayed_action_is_applied_once():
    state = MachineState("42")
    feed(state, 90)
    ack = action("acknowledge")
    assert len(apply_action(state, ack)) == 1
    assert apply_action(state, ack) == []


def test_an_action_older_than_the_last_applied_is_refused_not_reapplied():
    state = MachineState("42")
    feed(state, 90)
    late_ack = action("acknowledge")
    apply_action(state, action("shelve", shelve_until_ts_ms=T0 + 10**9))
    with pytest.raises(ActionRefused, match="older than the last one applied"):
        apply_action(state, late_ack)
