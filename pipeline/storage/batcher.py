"""The storage batcher: lines accumulate, batches are written in the background, in order,
and the chunks they came from are acked only after InfluxDB accepted them.

A loop adds, per chunk, the lines for each bucket, its dead letters and the chunk itself.
A batch is handed to the writer when it holds ``batch_size`` primary lines or its oldest
chunk is ``max_wait_ms`` old. At most ``max_pending`` batches wait for the writer: when
InfluxDB is slow or away, :meth:`StorageBatcher.add` blocks, which blocks the consumer's
fetch loop, so consumption pauses instead of buffering without bound. Batches are written
one after the other, so offsets are acked in order. With an :class:`AckGate` (the windows
stage), a batch's chunks are acked only once the state the gate derived from them is in
Kafka too: its mark is taken as each chunk is added, and :meth:`StorageBatcher.run_acker`
confirms it before the ack, in order, in a task of its own, so the writer goes on writing
while a changelog send waits (a broker failing over). Written batches wait for their acks
up to :data:`UNACKED_BATCHES` full batches of lines; past that the writer waits too, which
bounds what a stalled changelog keeps in memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kafka_edge.records import Publisher
from kafka_edge.retry import RetryPolicy
from pipeline.faust_ext.chunks import Chunk
from pipeline.storage.dead_letter import DeadLetter, SourceRecord
from pipeline.storage.delivery import LineSet, Write, deliver

logger = logging.getLogger(__name__)


class AckGate(Protocol):
    """State derived from chunks, which must be durable before they are acked."""

    def mark(self) -> int:
        """A number for all the state derived so far."""

    async def confirm(self, upto: int) -> None:
        """Return once the state up to the mark ``upto`` is durable."""


@dataclass(slots=True)
class _Batch:
    line_sets: dict[str, LineSet] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    primary_lines: int = 0
    started: float = 0.0
    mark: int = 0


@dataclass(slots=True)
class _Written:
    """A batch in InfluxDB whose chunks wait for their ack."""

    chunks: list[Chunk]
    mark: int
    lines: int


# Lines written and not yet acked, in full batches, past which the writer waits for the
# acks before it writes more (a changelog that does not answer).
UNACKED_BATCHES = 8


class StorageBatcher:
    """One per loop; run :meth:`run_writer` and :meth:`run_timer` as tasks, and
    :meth:`run_acker` too with a gate."""

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
        gate: AckGate | None = None,
    ) -> None:
        self.name = name
        self._gate = gate
        self._publisher = publisher
        self._dead_letter_topic = dead_letter_topic
        self._retry = retry
        self._ack = ack
        self._batch_size = batch_size
        self._max_wait_s = max_wait_ms / 1000
        self._queue: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=max_pending)
        self._current = _Batch()
        self._written: asyncio.Queue[_Written] = asyncio.Queue()
        self._unacked_lines = 0
        self._max_unacked = batch_size * UNACKED_BATCHES
        self._ack_room = asyncio.Condition()
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
        if self._gate is not None:
            batch.mark = self._gate.mark()
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
            if self._gate is not None:
                async with self._ack_room:
                    await self._ack_room.wait_for(lambda: self._unacked_lines < self._max_unacked)
                    self._unacked_lines += batch.primary_lines
            started = time.perf_counter()
            dead = await deliver(
                list(batch.line_sets.values()),
                batch.dead_letters,
                publisher=self._publisher,
                dead_letter_topic=self._dead_letter_topic,
                retry=self._retry,
            )
            self.written_lines += batch.primary_lines
            logger.debug(
                "%s batch written chunks=%d lines=%d dead_letters=%d took_ms=%.1f",
                self.name,
                len(batch.chunks),
                batch.primary_lines,
                len(dead),
                (time.perf_counter() - started) * 1000,
            )
            if self._gate is None:
                self._acknowledge(batch.chunks)
            else:
                self._written.put_nowait(_Written(batch.chunks, batch.mark, batch.primary_lines))

    async def run_acker(self) -> None:
        """Ack written batches in order, each once the gate confirmed its mark."""
        gate = self._gate
        if gate is None:
            return
        while True:
            written = await self._written.get()
            await gate.confirm(written.mark)
            self._acknowledge(written.chunks)
            async with self._ack_room:
                self._unacked_lines -= written.lines
                self._ack_room.notify_all()

    def _acknowledge(self, chunks: list[Chunk]) -> None:
        self.acked_chunks += sum(1 for chunk in chunks if self._ack(chunk))
