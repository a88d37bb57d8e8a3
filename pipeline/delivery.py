"""Delivering a planned batch: InfluxDB first, then Kafka; retried until it is done.

The caller acks the batch's records (so Kafka may commit their offsets) only after
:func:`deliver` returns. It never gives up on a batch and never skips one: while
InfluxDB or Kafka is unreachable it waits with capped exponential backoff, logging each
failure, and holds the partitions back. Cancellation (worker shutdown, rebalance) stops
it between attempts; the records stay unacked and are consumed again.

One failure is not transient: InfluxDB refusing points (400 or 422, e.g. a field whose
type conflicts with what the bucket already holds). The batch is then split in halves
until the refused readings are isolated; those go to the dead-letter topic with
InfluxDB's reason, the rest is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from contracts.errors import MillstreamError
from contracts.timefmt import now_ms
from pipeline.batch import BatchPlan
from pipeline.dead_letter import DeadLetter
from pipeline.influx_sink import InfluxWriteError, backoff_s

logger = logging.getLogger(__name__)

# InfluxDB statuses that mean "these points are refused", not "try later".
_REFUSED_STATUSES = frozenset((400, 413, 422))


class PublishError(MillstreamError):
    """Kafka did not accept a record; the text names the topic."""


class Publisher(Protocol):
    async def publish(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Produce ``(key, value)`` records and return once the broker has them all."""


class Writer(Protocol):
    async def write_readings(self, lines: Sequence[str]) -> None: ...

    async def write_alarms(self, lines: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    backoff_ms: int = 500
    backoff_max_ms: int = 10_000


async def _until_done(
    step: Callable[[], Awaitable[None]], *, what: str, retry: RetryPolicy
) -> None:
    attempt = 0
    while True:
        try:
            await step()
            return
        except (InfluxWriteError, PublishError) as exc:
            attempt += 1
            pause_s = backoff_s(attempt, first_ms=retry.backoff_ms, max_ms=retry.backoff_max_ms)
            logger.error(
                "batch step failed step=%s attempt=%d retry_in_s=%.2f error=%s",
                what,
                attempt,
                pause_s,
                exc,
            )
            await asyncio.sleep(pause_s)


async def write_isolating(
    write: Callable[[Sequence[str]], Awaitable[None]], lines: Sequence[str]
) -> list[tuple[int, InfluxWriteError]]:
    """Write ``lines``; return the indices InfluxDB refuses, each with its error.

    Errors other than a refusal propagate, so the caller can retry the whole write
    (rewriting accepted points is harmless: same series and time overwrite).
    """
    if not lines:
        return []
    try:
        await write(lines)
        return []
    except InfluxWriteError as exc:
        if exc.status not in _REFUSED_STATUSES:
            raise
        if len(lines) == 1:
            return [(0, exc)]
    mid = len(lines) // 2
    first = await write_isolating(write, lines[:mid])
    second = await write_isolating(write, lines[mid:])
    return first + [(mid + index, exc) for index, exc in second]


async def deliver(
    plan: BatchPlan,
    *,
    writer: Writer,
    publisher: Publisher,
    alarms_topic: str | None,
    dead_letter_topic: str,
    retry: RetryPolicy,
) -> list[DeadLetter]:
    """Write the plan's points, then publish its dead letters and alarm events.

    Returns every dead letter published: the plan's own plus readings InfluxDB refused.
    """
    dead_letters = list(plan.dead_letters)

    async def write_readings() -> None:
        refused = await write_isolating(writer.write_readings, plan.reading_lines)
        for index, exc in refused:
            source = plan.reading_sources[index]
            logger.warning(
                "reading refused by influx topic=%s partition=%d offset=%d error=%s",
                source.topic,
                source.partition,
                source.offset,
                exc,
            )
            dead_letters.append(
                DeadLetter.build(
                    source, reason=f"influx: {exc}", stage="influx", failed_at_ms=now_ms()
                )
            )

    async def write_alarms() -> None:
        await writer.write_alarms(plan.alarm_lines)

    async def publish_dead_letters() -> None:
        await publisher.publish(dead_letter_topic, [(d.key, d.value) for d in dead_letters])

    async def publish_alarms() -> None:
        # None: the alarm processor has published the events already.
        if alarms_topic is not None:
            await publisher.publish(
                alarms_topic, [(e.key(), e.encode()) for e in plan.alarm_events]
            )

    await _until_done(write_readings, what="write_readings", retry=retry)
    await _until_done(write_alarms, what="write_alarms", retry=retry)
    await _until_done(publish_dead_letters, what="publish_dead_letters", retry=retry)
    await _until_done(publish_alarms, what="publish_alarms", retry=retry)
    return dead_letters
