"""Property tests: whatever the inputs and their order, every alarm moves only along
ISA-18.2's transitions, its seq counts them one by one, and a replay repeats them exactly."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alarmrules.actions import apply_action, expire_shelves
from alarmrules.engine import EngineConfig, advance, evaluate_reading
from alarmrules.lifecycle import ActionRefused
from alarmrules.state import MachineState
from contracts.alarm_actions import AlarmAction
from contracts.readings import Reading
from contracts.thresholds import Limit, SensorThresholds

T0 = 1_766_241_000_000
CONFIG = EngineConfig(comm_loss_after_ms=20_000)
RULES = {
    "temperature_c": SensorThresholds(
        machine_id="*",
        sensor="temperature_c",
        limits={
            "high_high": Limit(value=95, deadband=1, on_delay_s=2),
            "high": Limit(value=85, deadband=1, off_delay_s=2, realarm_delay_s=3),
            "low": Limit(value=10, deadband=2),
        },
        stale_after_s=5,
    )
}
ALARMS = [
    ("temperature_c", "high_high"),
    ("temperature_c", "high"),
    ("temperature_c", "low"),
    ("temperature_c", "stale"),
    ("machine", "comm_loss"),
    ("pressure_bar", "manual"),
]
# (state before, event) -> state after
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("normal", "raised"): {"active_unacknowledged"},
    ("cleared_unacknowledged", "raised"): {"active_unacknowledged"},
    ("active_unacknowledged", "acknowledged"): {"active_acknowledged"},
    ("cleared_unacknowledged", "acknowledged"): {"normal"},
    ("active_unacknowledged", "cleared"): {"cleared_unacknowledged"},
    ("active_acknowledged", "cleared"): {"normal"},
    ("shelved", "unshelved"): {"active_unacknowledged", "normal"},
}
for before in ("normal", "active_unacknowledged", "active_acknowledged", "cleared_unacknowledged"):
    ALLOWED[(before, "shelved")] = {"shelved"}

values = st.sampled_from([0.0, 7.0, 9.5, 11.0, 12.5, 50.0, 84.0, 85.5, 86.0, 94.0, 96.0, 99.0])
qualities = st.sampled_from(["good", "good", "good", "uncertain", "bad", "stale", "comm_loss"])
inputs = st.lists(
    st.one_of(
        st.tuples(st.just("reading"), st.integers(1, 8_000), values, qualities),
        st.tuples(
            st.just("action"),
            st.sampled_from(["acknowledge", "shelve", "unshelve", "log", "clear"]),
            st.sampled_from(range(len(ALARMS))),
            st.integers(1_000, 60_000),
        ),
        st.tuples(st.just("tick"), st.integers(0, 30_000)),
    ),
    max_size=60,
)


def run(
    steps: list[tuple[Any, ...]],
    state: MachineState | None = None,
    clocks: list[int] | None = None,
    first_index: int = 0,
) -> list:
    """Apply ``steps``; return (input index, event) pairs and refusals as ("refused", ...).

    ``clocks`` ([reading time, wall time]) is where the run starts and is left where it ends.
    """
    state = state if state is not None else MachineState("42")
    clocks = clocks if clocks is not None else [T0, T0]
    out: list = []
    reading_ts, wall = clocks
    for index, step in enumerate(steps):
        if step[0] == "reading":
            _, gap_ms, value, quality = step
            reading_ts += gap_ms
            wall += gap_ms
            r = Reading(
                machine_id="42",
                ts_ms=reading_ts,
                values={"temperature_c": value},
                quality={"temperature_c": quality},
            )
            events = evaluate_reading(state, r, RULES, CONFIG)
        elif step[0] == "tick":
            wall += step[1]
            events = advance(state, reading_ts + step[1], RULES, CONFIG)
            events += expire_shelves(state, wall)
        else:
            _, kind, which, shelve_ms = step
            sensor, rule = ALARMS[which]
            if kind in ("log", "clear"):
                sensor, rule = ALARMS[-1]
            try:
                events = apply_action(
                    state,
                    AlarmAction(
                        action_id=f"a{first_index + index}",
                        action=kind,
                        machine_id="42",
                        sensor=sensor,
                        rule=rule,
                        by="op",
                        ts_ms=wall + 1,
                        shelve_until_ts_ms=wall + shelve_ms if kind == "shelve" else None,
                    ),
                )
            except ActionRefused as exc:
                out.append((index, "refused", str(exc)))
                continue
            wall += 1
        out.extend((index, event) for event in events)
    clocks[:] = [reading_ts, wall]
    return out


def check_sequence(out: list) -> None:
    last_state: dict[str, str] = {}
    last_seq: dict[str, int] = {}
    for item in out:
        if item[1] == "refused":
            continue
        event = item[1]
        before = last_state.get(event.alarm_id, "normal")
        allowed = ALLOWED.get((before, event.event))
        assert allowed is not None, f"{event.alarm_id}: {event.event} not allowed in {before}"
        assert event.state in allowed, f"{event.alarm_id}: {before} -{event.event}-> {event.state}"
        assert event.seq == last_seq.get(event.alarm_id, 0) + 1
        last_state[event.alarm_id] = event.state
        last_seq[event.alarm_id] = event.seq


@settings(max_examples=300, deadline=None)
@given(inputs)
def test_every_transition_is_allowed_and_counted(steps):
    check_sequence(run(steps))


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_any_reordering_of_the_input_still_gives_a_valid_sequence(steps):
    check_sequence(run(list(reversed(steps))))
    check_sequence(run(sorted(steps, key=repr)))


@settings(max_examples=200, deadline=None)
@given(inputs, st.data())
def test_replaying_from_a_stored_state_repeats_the_same_events(steps, data):
    first = run(steps)
    assert run(steps) == first
    cut = data.draw(st.integers(0, len(steps)))
    state = MachineState("42")
    clocks = [T0, T0]
    prefix = run(steps[:cut], state, clocks)
    stored = copy.deepcopy(state.to_dict())
    # A crash after publishing, before storing: the rest replays from the stored state.
    replayed = run(steps[cut:], MachineState.from_dict("42", stored), clocks, first_index=cut)
    assert prefix == first[: len(prefix)]
    rest = [(i + cut, *item) for i, *item in replayed]
    assert prefix + rest == first
