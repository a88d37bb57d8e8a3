"""The staleness rule: a tag whose scan is late by more than one interval is stale, once."""

from __future__ import annotations

import random

from connectors.modbus.staleness import StaleTracker


def test_a_tag_read_on_time_is_never_stale() -> None:
    tracker = StaleTracker({"fast": 0.1, "slow": 1.0}, start_ms=0)
    for now_ms in range(100, 2000, 100):
        tracker.refreshed(["fast"], now_ms=now_ms)
        if now_ms % 1000 == 0:
            tracker.refreshed(["slow"], now_ms=now_ms)
        assert tracker.newly_stale(now_ms=now_ms + 50) == []


def test_late_by_one_interval_is_not_yet_stale_late_by_more_is() -> None:
    tracker = StaleTracker({"fast": 0.1, "slow": 1.0}, start_ms=0)
    assert tracker.newly_stale(now_ms=200) == []
    assert tracker.newly_stale(now_ms=201) == ["fast"]
    assert tracker.newly_stale(now_ms=2000) == []
    assert tracker.newly_stale(now_ms=2001) == ["slow"]
    assert tracker.stale == {"fast", "slow"}


def test_stale_is_reported_once_per_episode_and_ends_with_a_scan() -> None:
    tracker = StaleTracker({"fast": 0.1}, start_ms=0)
    assert tracker.newly_stale(now_ms=500) == ["fast"]
    assert tracker.newly_stale(now_ms=900) == []
    tracker.refreshed(["fast"], now_ms=1000)
    assert tracker.stale == frozenset()
    assert tracker.newly_stale(now_ms=1150) == []
    assert tracker.newly_stale(now_ms=1201) == ["fast"]


def test_restart_after_an_outage_starts_every_deadline_again() -> None:
    tracker = StaleTracker({"a": 0.1, "b": 0.5}, start_ms=0)
    assert sorted(tracker.newly_stale(now_ms=5000)) == ["a", "b"]
    tracker.restart(now_ms=6000)
    assert tracker.stale == frozenset()
    assert tracker.newly_stale(now_ms=6200) == []
    assert tracker.newly_stale(now_ms=6201) == ["a"]


def _naive_newly_stale(
    intervals_ms: dict[str, float], refreshed_ms: dict[str, int], reported: set[str], now_ms: int
) -> list[str]:
    out = [
        n
        for n, last in refreshed_ms.items()
        if n not in reported and now_ms - last > 2 * intervals_ms[n]
    ]
    reported.update(out)
    return out


def test_the_early_answer_agrees_with_checking_every_tag() -> None:
    rng = random.Random(3)
    intervals_s = {"a": 0.02, "b": 0.05, "c": 1.0}
    tracker = StaleTracker(intervals_s, start_ms=0)
    intervals_ms = {n: s * 1000 for n, s in intervals_s.items()}
    refreshed_ms = dict.fromkeys(intervals_s, 0)
    reported: set[str] = set()
    now_ms = 0
    for _ in range(5_000):
        now_ms += rng.randint(0, 30)
        if rng.random() < 0.3:
            names = rng.sample(sorted(intervals_s), rng.randint(1, 3))
            shared = {intervals_s[n] for n in names}
            # a scan group's names share their interval, which the poller passes on
            tracker.refreshed(
                names, now_ms=now_ms, interval_s=shared.pop() if len(shared) == 1 else None
            )
            for n in names:
                refreshed_ms[n] = now_ms
                reported.discard(n)
        expected = _naive_newly_stale(intervals_ms, refreshed_ms, reported, now_ms)
        # next_ms is a true lower bound: the watchdog skips the check before it
        assert not expected or now_ms > tracker.next_ms
        assert sorted(tracker.newly_stale(now_ms=now_ms)) == sorted(expected)
