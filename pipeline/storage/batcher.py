"""The storage batcher: lines accumulate, batches are written in the background, in order,
and the chunks they came from are acked only after InfluxDB accepted them.

A loop adds, per chunk, the lines for each bucket, its dead letters and the chunk itself.
A batch is handed to the writer when it holds ``batch_size`` primary lines or its oldest
chunk is ``max_wait_ms`` old. At most ``max_pending`` batches wait for the writer: when
InfluxDB is slow or away, :meth:`StorageBatcher.add` blocks, which blocks the consumer's
fetch loop, so consumption pauses instead of buffering without bound. Batches are written
one after the other, so offsets are acked in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kafka_edge.records import Publisher
from kafka_edge.retry import RetryPolicy
from pipeline.faust_ext.chunks import Chunk
from pipeline.storage.dead_letter import DeadLetter, SourceRecord
from pipeline.storage.delivery import LineSet, Write, deliver

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Batch:
    line_sets: dict[str, LineSet] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    primary_lines: int = 0
    started: float = 0.0


class StorageBatcher:
    """One per loop; run :meth:`run_writer` and :meth:`run_timer` as tasks."""

    def __init__(
        self,
        *,
        name: str,
        publisher: Publisher,
        dead_letter_topic: str,
        retry: RetryPolicy,
        ack: Callable[[Chunk], bool],
        batch_size: int,
        max_wait_ms: int,
        max_pending: int,
    ) -> None:
        self.name = name
        self._publisher = publisher
        self._dead_letter_topic = dead_letter_topic
        self._retry = retry
        self._ack = ack
        self._batch_size = batch_size
        self._max_wait_s = max_wait_ms / 1000
        self._queue: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=max_pending)
        self._current = _Batch()
        self.written_lines = 0
        self.acked_chunks = 0

    async def add(
        self,
        chunk: Chunk,
        lines: Sequence[tuple[str, Write, Sequence[str], Sequence[SourceRecord] | None]],
        dead_letters: Sequence[DeadLetter],
        *,
        primary: int,
    ) -> None:
        """Add one chunk's output: ``(what, write, lines, sources)`` per bucket."""
        batch = self._current
        if not batch.chunks:
            batch.started = time.monotonic()
        for what, write, new_lines, sources in lines:
            if not new_lines:
                continue
            line_set = batch.line_sets.get(what)
            if line_set is None:
                line_set = batch.line_sets[what] = LineSet(
                    write=write, what=what, sources=[] if sources is not None else None
                )
            line_set.lines.extend(new_lines)
            if line_set.sources is not None and sources is not None:
                line_set.sources.extend(sources)
        batch.dead_letters.extend(dead_letters)
        batch.chunks.append(chunk)
        batch.primary_lines += primary
        if batch.primary_lines >= self._batch_size:
            await self.flush()

    async def flush(self) -> None:
        batch = self._current
        if not batch.chunks:
            return
        self._current = _Batch()
        await self._queue.put(batch)

    async def run_timer(self) -> None:
        while True:
            await asyncio.sleep(self._max_wait_s / 4)
            batch = self._current
            if batch.chunks and time.monotonic() - batch.started >= self._max_wait_s:
                await self.flush()

    async def run_writer(self) -> None:
        while True:
            batch = await self._queue.get()
            started = time.perf_counter()
            dead = await deliver(
                list(batch.line_sets.values()),
                batch.dead_letters,
                publisher=self._publisher,
                dead_letter_topic=self._dead_letter_topic,
                retry=self._retry,
            )
            acked = sum(1 for chunk in batch.chunks if self._ack(chunk))
            self.acked_chunks += acked
            self.written_lines += batch.primary_lines
            logger.debug(
                "%s batch written chunks=%d acked=%d lines=%d dead_letters=%d took_ms=%.1f",
                self.name,
                len(batch.chunks),
                acked,
                batch.primary_lines,
                len(dead),
                (time.perf_counter() - started) * 1000,
            )
