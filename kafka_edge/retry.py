"""The one retry policy: exponential backoff with jitter, a cap and a deadline, in seconds.

:class:`RetryPolicy` is pure data and arithmetic (the delay after the n-th failure);
:class:`Backoff` is one run of retries against a clock (attempts so far, the deadline);
:func:`retry_async` and :func:`retry_blocking` run an operation until it succeeds, the
deadline passes or a ``stop`` event is set; :func:`poll_until` and
:func:`poll_until_blocking` wait for a condition until the deadline. Every retry and
wait-and-ask-again in Millstream goes through them.

Jitter spreads clients that failed together (a broker restart, a plant's power cut) so
they do not all come back at the same instant: each delay is drawn uniformly from
``[d * (1 - jitter), d]``, where ``d`` is the capped exponential delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
# Called after each failure with the error, the attempt number (from 1) and the pause (s).
OnRetry = Callable[[BaseException, int, float], None]
# Given the error and the policy's pause, the pause to take (e.g. a server's Retry-After).
PauseFor = Callable[[BaseException, float], float]


class RetryStopped(Exception):
    """The ``stop`` event was set before the operation succeeded."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff from ``initial_s``, times ``multiplier`` per failure, capped at ``max_s``,
    each delay jittered down by up to ``jitter`` of itself; give up ``deadline_s`` after
    the first attempt (``None``: never)."""

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < self.initial_s:
            raise ValueError(f"retry: need 0 <= initial_s <= max_s, got {self}")
        if self.multiplier < 1:
            raise ValueError(f"retry: multiplier must be at least 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"retry: jitter must be within 0..1, got {self.jitter}")
        if self.deadline_s is not None and self.deadline_s < 0:
            raise ValueError(f"retry: deadline_s must not be negative, got {self.deadline_s}")

    @classmethod
    def fixed(cls, delay_s: float, *, deadline_s: float | None = None) -> RetryPolicy:
        """The same pause after every failure, without jitter (polling a condition)."""
        return cls(delay_s, delay_s, 1.0, 0.0, deadline_s)

    def ceiling_s(self, attempt: int) -> float:
        """The delay after failure number ``attempt`` (from 1) before jitter."""
        exponent = min(max(attempt, 1) - 1, 64)
        return float(min(self.initial_s * self.multiplier**exponent, self.max_s))

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """The jittered delay after failure number ``attempt`` (from 1)."""
        ceiling = self.ceiling_s(attempt)
        return ceiling * (1.0 - self.jitter * rng.random())

    def start(self, *, rng: random.Random | None = None, clock: Clock = time.monotonic) -> Backoff:
        """A new run of retries, its deadline counted from now."""
        return Backoff(self, rng=rng, clock=clock)


class Backoff:
    """One run of retries: how many failures so far and when the deadline falls."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        rng: random.Random | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.policy = policy
        self._rng = rng or random.Random()
        self._clock = clock
        self.attempts = 0
        self._started = clock()

    def reset(self) -> None:
        """After a success: the next failure starts again from ``initial_s``."""
        self.attempts = 0
        self._started = self._clock()

    def remaining_s(self) -> float | None:
        """Time left before the deadline (``None``: no deadline)."""
        if self.policy.deadline_s is None:
            return None
        return self.policy.deadline_s - (self._clock() - self._started)

    def next_delay_s(self) -> float | None:
        """Count one failure; the pause before the next attempt, or ``None`` when the
        deadline has passed (a pause that would cross it is shortened to end on it)."""
        self.attempts += 1
        delay = self.policy.delay_s(self.attempts, self._rng)
        remaining = self.remaining_s()
        if remaining is None:
            return delay
        if remaining <= 0:
            return None
        return min(delay, remaining)


async def sleep_or_stop(delay_s: float, stop: asyncio.Event | None) -> bool:
    """Sleep ``delay_s``, or less if ``stop`` is set first; return whether it is set."""
    if stop is None:
        await asyncio.sleep(delay_s)
        return False
    if stop.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay_s)
    return stop.is_set()


def _log_retry(what: str) -> OnRetry:
    def log(exc: BaseException, attempt: int, pause_s: float) -> None:
        logger.warning("%s failed attempt=%d retry_in_s=%.2f error=%r", what, attempt, pause_s, exc)

    return log


async def retry_async(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    what: str,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    stop: asyncio.Event | None = None,
    on_retry: OnRetry | None = None,
    pause_for: PauseFor | None = None,
    healthy_after_s: float | None = None,
    rng: random.Random | None = None,
) -> T:
    """Await ``operation()`` until it returns; an error in ``retry_on`` pauses and tries
    again. Once the deadline has passed the last error propagates; when ``stop`` is set
    first :class:`RetryStopped` is raised. Cancellation is never retried.

    ``healthy_after_s``: for a long-running operation (a consume loop), an attempt that
    ran at least this long before failing starts the backoff afresh. Each failure is
    logged as a warning naming ``what`` unless ``on_retry`` is given.
    """
    backoff = policy.start(rng=rng)
    report = on_retry or _log_retry(what)
    loop = asyncio.get_running_loop()
    while True:
        if stop is not None and stop.is_set():
            raise RetryStopped(what)
        began = loop.time()
        try:
            result = await operation()
        except retry_on as exc:
            if healthy_after_s is not None and loop.time() - began >= healthy_after_s:
                backoff.reset()
            pause = backoff.next_delay_s()
            if pause is None:
                raise
            if pause_for is not None:
                pause = pause_for(exc, pause)
            report(exc, backoff.attempts, pause)
            if await sleep_or_stop(pause, stop):
                raise RetryStopped(what) from exc
            continue
        if backoff.attempts:
            logger.info("%s recovered attempts=%d", what, backoff.attempts + 1)
        return result


async def poll_until(check: Callable[[], Awaitable[T | None]], *, policy: RetryPolicy) -> T | None:
    """Await ``check()`` until it returns something other than ``None`` and return that;
    ``None`` once the policy's deadline has passed (waiting for a topic, an assignment)."""
    backoff = policy.start()
    while True:
        found = await check()
        if found is not None:
            return found
        pause = backoff.next_delay_s()
        if pause is None:
            return None
        await asyncio.sleep(pause)


def poll_until_blocking(
    check: Callable[[], T | None],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """:func:`poll_until` for a blocking ``check``."""
    backoff = policy.start()
    while True:
        found = check()
        if found is not None:
            return found
        pause = backoff.next_delay_s()
        if pause is None:
            return None
        sleep(pause)


def retry_blocking(
    operation: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    on_retry: OnRetry | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """:func:`retry_async` for a blocking ``operation`` (start-up checks, worker threads)."""
    backoff = policy.start(rng=rng)
    report = on_retry or _log_retry(what)
    while True:
        try:
            return operation()
        except retry_on as exc:
            pause = backoff.next_delay_s()
            if pause is None:
                raise
            report(exc, backoff.attempts, pause)
            sleep(pause)
