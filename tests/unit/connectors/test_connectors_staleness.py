"""The staleness rule: a tag whose scan is late by more than one interval is stale, once."""

from __future__ import annotations

from connectors.staleness import StaleTracker


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
