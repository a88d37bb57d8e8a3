"""The simulated lathe: deterministic, realistic ranges, correlated signals, overheat episodes."""

from __future__ import annotations

import itertools
import statistics

import pytest

from connectors.simulator.model import (
    OVERHEAT_THRESHOLD_C,
    MachineModel,
    MachineState,
    extra_signal,
)

STEP_S = 0.5


def _run(model: MachineModel, *, duration_s: float) -> list[MachineState]:
    steps = int(duration_s / STEP_S)
    return [model.sample(now_s=i * STEP_S) for i in range(1, steps + 1)]


def test_same_seed_same_outputs_other_seed_other_outputs() -> None:
    a = _run(MachineModel(seed=7, overheat_every_s=60), duration_s=120)
    b = _run(MachineModel(seed=7, overheat_every_s=60), duration_s=120)
    c = _run(MachineModel(seed=8, overheat_every_s=60), duration_s=120)
    assert a == b
    assert [s.temperature_c for s in a] != [s.temperature_c for s in c]


def test_sampling_the_same_instant_twice_returns_the_same_state() -> None:
    model = MachineModel(seed=1)
    first = model.sample(now_s=10.0)
    assert model.sample(now_s=10.0) is first
    assert model.state is first


def test_time_must_not_go_backwards() -> None:
    model = MachineModel(seed=1)
    model.sample(now_s=5.0)
    with pytest.raises(ValueError, match="backwards"):
        model.sample(now_s=4.0)


def test_temperature_wanders_around_65_to_72_without_overheat() -> None:
    states = _run(MachineModel(seed=3, overheat_every_s=0), duration_s=1800)
    temps = [s.temperature_c for s in states]
    assert 65.0 <= statistics.mean(temps) <= 72.0
    assert min(temps) > 62.0
    assert max(temps) < 75.0
    assert not any(s.overheating for s in states)


def test_temperature_has_thermal_inertia() -> None:
    states = _run(MachineModel(seed=4, overheat_every_s=0), duration_s=600)
    jumps = [abs(b.temperature_c - a.temperature_c) for a, b in itertools.pairwise(states)]
    assert max(jumps) < 0.5


def test_vibration_and_power_follow_spindle_load() -> None:
    states = _run(MachineModel(seed=5, overheat_every_s=0), duration_s=1200)
    cutting = [s for s in states if s.cutting and s.spindle_rpm > 1500]
    idle = [s for s in states if not s.cutting and s.spindle_rpm == 0]
    assert cutting
    assert idle
    assert (
        statistics.mean(s.power_kw for s in cutting)
        > statistics.mean(s.power_kw for s in idle) + 5.0
    )
    assert statistics.mean(s.vibration_mm_s for s in cutting) > 3 * statistics.mean(
        s.vibration_mm_s for s in idle
    )
    rpm = [s.spindle_rpm for s in states]
    assert statistics.correlation(rpm, [s.power_kw for s in states]) > 0.8
    assert statistics.correlation(rpm, [s.vibration_mm_s for s in states]) > 0.8
    assert all(0 <= s.spindle_rpm <= 3300 for s in states)
    assert all(3.5 < s.oil_pressure_bar < 5.5 for s in states)


def _episodes(states: list[MachineState]) -> list[tuple[float, float]]:
    """(start, end) times of each stretch above the overheat threshold."""
    spans: list[tuple[float, float]] = []
    start = None
    for state in states:
        hot = state.temperature_c > OVERHEAT_THRESHOLD_C
        if hot and start is None:
            start = state.t_s
        elif not hot and start is not None:
            spans.append((start, state.t_s))
            start = None
    return spans


def test_one_overheat_episode_every_period_and_it_cools_back() -> None:
    states = _run(MachineModel(seed=6, overheat_every_s=150), duration_s=700)
    episodes = _episodes(states)
    assert len(episodes) == 4
    for k, (start, end) in enumerate(episodes, start=1):
        assert k * 150 < start < k * 150 + 40
        assert end - start < 60
    peaks = [
        max(s.temperature_c for s in states if start <= s.t_s <= end) for start, end in episodes
    ]
    assert all(86.0 < peak < 91.0 for peak in peaks)
    after_first = [s.temperature_c for s in states if 260 <= s.t_s <= 300]
    assert max(after_first) < 76.0


def test_overheat_raises_vibration() -> None:
    states = _run(MachineModel(seed=9, overheat_every_s=200), duration_s=400)
    heating = [s for s in states if s.overheating and s.cutting]
    normal = [s for s in states if not s.overheating and s.cutting]
    assert heating
    assert (
        statistics.mean(s.vibration_mm_s for s in heating)
        > statistics.mean(s.vibration_mm_s for s in normal) + 1.0
    )


def test_big_time_steps_are_integrated_in_small_ones() -> None:
    model = MachineModel(seed=2, overheat_every_s=0)
    state = model.sample(now_s=3600.0)
    assert 62.0 < state.temperature_c < 75.0
    assert state.t_s == 3600.0


def test_extra_signal_is_stable_and_bounded() -> None:
    values = [extra_signal("humidity_pct", now_s=t) for t in range(0, 600, 5)]
    assert values == [extra_signal("humidity_pct", now_s=t) for t in range(0, 600, 5)]
    assert all(40.0 <= v <= 60.0 for v in values)
    assert max(values) - min(values) > 10.0
