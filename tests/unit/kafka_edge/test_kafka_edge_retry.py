"""The one retry policy: the delay grows, is capped, is jittered, and the deadline stops it."""

from __future__ import annotations

import asyncio
import random

import pytest

from kafka_edge.retry import (
    RetryPolicy,
    RetryStopped,
    poll_until,
    poll_until_blocking,
    retry_async,
    retry_blocking,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_delay_grows_until_the_cap() -> None:
    policy = RetryPolicy(initial_s=0.5, max_s=4.0, jitter=0.0)
    assert [policy.ceiling_s(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff = policy.start(rng=random.Random(1))
    assert [backoff.next_delay_s() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_huge_attempt_number_stays_capped() -> None:
    assert RetryPolicy(initial_s=1.0, max_s=30.0).ceiling_s(10_000) == 30.0


def test_the_delay_is_jittered_within_its_band_and_seeded() -> None:
    policy = RetryPolicy(initial_s=2.0, max_s=2.0, jitter=0.5)
    delays = [policy.delay_s(1, random.Random(seed)) for seed in range(200)]
    assert all(1.0 <= d <= 2.0 for d in delays)
    assert len(set(delays)) > 150  # spread, not one value
    assert min(delays) < 1.1 and max(delays) > 1.9
    again = [policy.delay_s(1, random.Random(seed)) for seed in range(200)]
    assert again == delays


def test_the_deadline_stops_the_retries_and_shortens_the_last_pause() -> None:
    clock = FakeClock()
    backoff = RetryPolicy(initial_s=1.0, max_s=1.0, jitter=0.0, deadline_s=2.5).start(
        rng=random.Random(0), clock=clock
    )
    pauses = []
    while (pause := backoff.next_delay_s()) is not None:
        pauses.append(pause)
        clock.now += pause
    assert pauses == [1.0, 1.0, 0.5]
    assert backoff.attempts == 4


def test_reset_starts_again_from_the_first_delay_and_the_deadline() -> None:
    clock = FakeClock()
    backoff = RetryPolicy(initial_s=1.0, max_s=8.0, jitter=0.0, deadline_s=10.0).start(clock=clock)
    assert [backoff.next_delay_s() for _ in range(3)] == [1.0, 2.0, 4.0]
    clock.now += 20.0
    assert backoff.next_delay_s() is None
    backoff.reset()
    assert backoff.next_delay_s() == 1.0


def test_fixed_is_one_pause_without_jitter() -> None:
    backoff = RetryPolicy.fixed(0.25).start()
    assert [backoff.next_delay_s() for _ in range(4)] == [0.25] * 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_s": -1.0},
        {"initial_s": 5.0, "max_s": 1.0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"deadline_s": -1.0},
    ],
)
def test_a_nonsensical_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry"):
        RetryPolicy(**kwargs)


async def test_retry_async_retries_then_returns() -> None:
    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("down")
        return "up"

    seen: list[tuple[int, float]] = []
    result = await retry_async(
        flaky,
        policy=RetryPolicy(initial_s=0.001, max_s=0.002),
        what="flaky",
        retry_on=(OSError,),
        on_retry=lambda _exc, attempt, pause: seen.append((attempt, pause)),
    )
    assert result == "up"
    assert [a for a, _ in seen] == [1, 2]
    assert all(p <= 0.002 for _, p in seen)


async def test_retry_async_gives_up_at_the_deadline_with_the_last_error() -> None:
    async def down() -> None:
        raise OSError("still down")

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(OSError, match="still down"):
        await retry_async(
            down,
            policy=RetryPolicy(initial_s=0.01, max_s=0.02, deadline_s=0.1),
            what="down",
        )
    assert 0.09 <= loop.time() - t0 < 1.0


async def test_retry_async_does_not_retry_other_errors() -> None:
    calls = []

    async def broken() -> None:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await retry_async(broken, policy=RetryPolicy(), what="broken", retry_on=(OSError,))
    assert len(calls) == 1


async def test_retry_async_stops_when_told_mid_pause() -> None:
    stop = asyncio.Event()

    async def down() -> None:
        asyncio.get_running_loop().call_later(0.05, stop.set)
        raise OSError("down")

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(RetryStopped):
        await retry_async(down, policy=RetryPolicy(initial_s=30.0, max_s=30.0), what="x", stop=stop)
    assert loop.time() - t0 < 5.0


async def test_retry_async_uses_a_pause_the_error_asks_for() -> None:
    calls = []

    async def slow_down() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("429")

    seen: list[float] = []
    await retry_async(
        slow_down,
        policy=RetryPolicy(initial_s=5.0, max_s=5.0),
        what="x",
        pause_for=lambda _exc, _pause: 0.01,
        on_retry=lambda _exc, _attempt, pause: seen.append(pause),
    )
    assert seen == [0.01]


def test_retry_blocking_sleeps_the_policy_delays_and_gives_up() -> None:
    slept: list[float] = []

    def down() -> None:
        raise OSError("down")

    clock_policy = RetryPolicy(initial_s=1.0, max_s=2.0, jitter=0.0, deadline_s=None)
    attempts = []

    def three_times() -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise OSError("down")
        return "ok"

    assert retry_blocking(three_times, policy=clock_policy, what="x", sleep=slept.append) == "ok"
    assert slept == [1.0, 2.0, 2.0]
    with pytest.raises(OSError):
        retry_blocking(down, policy=RetryPolicy.fixed(0.001, deadline_s=0.0), what="x")


async def test_a_long_healthy_run_starts_the_backoff_afresh() -> None:
    runs = iter([0.0, 0.0, 0.06, 0.0])
    seen: list[int] = []

    async def consume() -> None:
        ran = next(runs, None)
        if ran is None:
            return
        await asyncio.sleep(ran)
        raise OSError("broker gone")

    await retry_async(
        consume,
        policy=RetryPolicy(initial_s=0.001, max_s=0.01, jitter=0.0),
        what="consume",
        healthy_after_s=0.05,
        on_retry=lambda _exc, attempt, _pause: seen.append(attempt),
    )
    assert seen == [1, 2, 1, 2]


async def test_poll_until_returns_the_value_or_none_at_the_deadline() -> None:
    answers = iter([None, None, 3])

    async def check() -> int | None:
        return next(answers)

    assert await poll_until(check, policy=RetryPolicy.fixed(0.001, deadline_s=5.0)) == 3

    async def never() -> int | None:
        return None

    assert await poll_until(never, policy=RetryPolicy.fixed(0.01, deadline_s=0.05)) is None


def test_poll_until_blocking_sleeps_between_checks() -> None:
    answers = iter([None, "x"])
    slept: list[float] = []
    found = poll_until_blocking(
        lambda: next(answers), policy=RetryPolicy.fixed(0.5, deadline_s=5.0), sleep=slept.append
    )
    assert (found, slept) == ("x", [0.5])
