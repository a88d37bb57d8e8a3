"""Delivering a storage batch: InfluxDB, then the dead letters to Kafka; retried until done.

The sink makes single attempts and classifies their failure (:mod:`pipeline.sink.errors`);
here, under the one retry policy (:mod:`kafka_edge.retry`), a retryable failure waits
with capped, jittered exponential backoff, backpressure (InfluxDB's 429 or 503) waits for the
server's ``Retry-After`` or the same backoff, and nothing is skipped. While a batch waits,
the readings loop's bounded queue of batches fills and consumption pauses: memory stays
bounded however long InfluxDB is away. Cancellation (shutdown, rebalance) stops between
attempts; the records stay unacked and are consumed again.

The line sets of a batch (one per bucket and InfluxDB server, :mod:`pipeline.storage.routing`)
are written side by side: a server that is away holds its own lines, not the other
servers' lines of the same batch. The batch, and so its offsets, waits for all of them.

A refusal (400, 422, ...: e.g. a field whose type conflicts with what the bucket already
holds) is not retried as a whole: the lines are split in halves until the refused ones are
isolated; refused readings go to the dead-letter topic with InfluxDB's reason, the rest is
written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.errors import MillstreamError
from contracts.timefmt import now_ms
from kafka_edge.records import Publisher, Record
from kafka_edge.retry import RetryPolicy, retry_async
from pipeline.sink.errors import InfluxWriteError
from pipeline.storage.dead_letter import DeadLetter, SourceRecord, source_record

logger = logging.getLogger(__name__)

Write = Callable[[Sequence[str]], Awaitable[None]]


class PublishError(MillstreamError):
    """Kafka did not accept a record; the text names the topic."""


@dataclass(slots=True)
class LineSet:
    """Lines for one bucket; ``sources[i]`` (when given) is the record line ``i`` came
    from, dead-lettered if InfluxDB refuses that line."""

    write: Write
    lines: list[str] = field(default_factory=list)
    sources: list[SourceRecord | Any] | None = None
    what: str = "lines"


def _backpressure(exc: BaseException) -> bool:
    return isinstance(exc, InfluxWriteError) and exc.outcome == "backpressure"


async def until_done(step: Callable[[], Awaitable[None]], *, what: str, retry: RetryPolicy) -> None:
    """Run ``step`` until it succeeds; InfluxDB and Kafka failures wait and try again.

    Backpressure waits for the server's ``Retry-After`` (at most six times the policy's
    cap) when it sent one. No deadline: nothing is skipped (see the module docstring).
    """

    def pause_for(exc: BaseException, pause_s: float) -> float:
        retry_after_s = getattr(exc, "retry_after_s", None)
        if _backpressure(exc) and retry_after_s is not None:
            return float(min(max(retry_after_s, 0.0), retry.max_s * 6))
        return pause_s

    def log(exc: BaseException, attempt: int, pause_s: float) -> None:
        if _backpressure(exc):
            logger.warning(
                "influx backpressure step=%s attempt=%d pause_s=%.2f error=%s",
                what,
                attempt,
                pause_s,
                exc,
            )
        else:
            logger.error(
                "batch step failed step=%s attempt=%d retry_in_s=%.2f error=%s",
                what,
                attempt,
                pause_s,
                exc,
            )

    await retry_async(
        step,
        policy=retry,
        what=f"batch step {what}",
        retry_on=(InfluxWriteError, PublishError),
        on_retry=log,
        pause_for=pause_for,
    )


async def write_isolating(write: Write, lines: Sequence[str]) -> list[tuple[int, InfluxWriteError]]:
    """Write ``lines``; return the indices InfluxDB refuses, each with its error.

    Failures other than a refusal propagate, so the caller retries the whole write
    (rewriting accepted points is harmless: same series and time overwrite).
    """
    if not lines:
        return []
    try:
        await write(lines)
        return []
    except InfluxWriteError as exc:
        if exc.outcome != "refused":
            raise
        if len(lines) == 1:
            return [(0, exc)]
    mid = len(lines) // 2
    first = await write_isolating(write, lines[:mid])
    second = await write_isolating(write, lines[mid:])
    return first + [(mid + index, exc) for index, exc in second]


async def deliver(
    line_sets: Sequence[LineSet],
    dead_letters: Sequence[DeadLetter],
    *,
    publisher: Publisher,
    dead_letter_topic: str,
    retry: RetryPolicy,
) -> list[DeadLetter]:
    """Write every line set (side by side), then publish the dead letters (the given ones
    plus the lines InfluxDB refused). Returns every dead letter published."""
    published = list(dead_letters)

    async def deliver_set(line_set: LineSet) -> None:
        async def write_set() -> None:
            refused = await write_isolating(line_set.write, line_set.lines)
            for index, exc in refused:
                source: Any = line_set.sources[index] if line_set.sources else None
                if source is None:
                    logger.error(
                        "line refused by influx what=%s line=%r error=%s",
                        line_set.what,
                        line_set.lines[index][:300],
                        exc,
                    )
                    continue
                logger.warning(
                    "record refused by influx topic=%s partition=%d offset=%d error=%s",
                    source.topic,
                    source.partition,
                    source.offset,
                    exc,
                )
                published.append(
                    DeadLetter.build(
                        source_record(source),
                        reason=f"influx: {exc}",
                        stage="influx",
                        failed_at_ms=now_ms(),
                    )
                )

        await until_done(write_set, what=f"write_{line_set.what}", retry=retry)

    async with asyncio.TaskGroup() as group:
        for line_set in line_sets:
            if line_set.lines:
                group.create_task(deliver_set(line_set))

    async def publish_dead_letters() -> None:
        await publisher.publish(dead_letter_topic, [Record(d.key, d.value) for d in published])

    await until_done(publish_dead_letters, what="publish_dead_letters", retry=retry)
    return published
