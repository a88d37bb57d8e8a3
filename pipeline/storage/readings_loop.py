"""The readings loop, the storage path: per chunk of consumed readings, decode, windows,
and hand the lines to the storage batcher, which writes them in the background.

Offsets are acked only after the batch holding the chunk is in InfluxDB
(:mod:`pipeline.storage.batcher`). Alarms are not evaluated here: they must not wait for
storage, so :class:`pipeline.alarms.readings_reader.ReadingsReader` reads the same partitions at a
position of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from contracts.readings import Reading
from contracts.timefmt import now_ms
from pipeline.faust_ext.chunks import Chunk
from pipeline.sink.plants import PlantSinks
from pipeline.storage.batcher import StorageBatcher
from pipeline.storage.dead_letter import DeadLetter
from pipeline.storage.decoded_cache import DecodedReadings
from pipeline.storage.decoding import decode_records
from pipeline.storage.routing import Entry, entries

logger = logging.getLogger(__name__)

# Records decoded between two yields to the event loop.
SLICE = 500


async def _next_turn() -> None:
    await asyncio.sleep(0)


class Windowing(Protocol):
    """What the readings loop needs of the windows stage
    (:class:`pipeline.windows.stage.WindowsStage`)."""

    async def apply(
        self, readings: Sequence[Reading], offsets: Sequence[int], now_ms: int
    ) -> list[str]:
        """Add readings to their windows, emit the closed ones; return their InfluxDB lines
        (late readings are counted there; their raw points are stored here all the same)."""

    def mark(self) -> int:
        """The number of the last write of window states."""

    async def confirm(self, upto: int) -> None:
        """Return once the window states of every write up to ``upto`` are in Kafka."""


class ReadingsLoop:
    def __init__(
        self,
        *,
        sinks: PlantSinks,
        batcher: StorageBatcher,
        windows: Windowing | None,
        decoded: DecodedReadings | None = None,
        pause: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._decoded = decoded
        # Awaited between slices of a chunk: lets other tasks (the readings reader) run first.
        self._pause = pause if pause is not None else _next_turn
        self._sinks = sinks
        self._batcher = batcher
        self._windows = windows
        self.readings_seen = 0

    async def on_chunk(self, chunk: Chunk) -> None:
        at_ms = now_ms()
        records = chunk.records
        cache = self._decoded
        decoded = decode_records(records[:SLICE], now_ms=at_ms, decoded=cache)
        for start in range(SLICE, len(records), SLICE):
            await self._pause()
            more = records[start : start + SLICE]
            decoded.extend(decode_records(more, now_ms=at_ms, decoded=cache))
        readings = decoded.readings
        self.readings_seen += len(readings)
        aggregate_lines: list[str] = []
        dead_letters = decoded.dead_letters
        if self._windows is not None and readings:
            await self._pause()
            aggregate_lines = await self._windows.apply(
                readings, [r.offset for r in decoded.sources], at_ms
            )
        sinks = self._sinks
        plants = [reading.plant for reading in readings] if sinks.routed else None
        await self._hand_over(
            chunk,
            [
                *entries(
                    sinks,
                    "readings",
                    lambda sink: sink.write_readings,
                    decoded.reading_lines,
                    decoded.sources,
                    plants=plants,
                ),
                *entries(sinks, "aggregates", lambda sink: sink.write_aggregates, aggregate_lines),
            ],
            dead_letters,
            primary=len(decoded.reading_lines),
        )

    async def _hand_over(
        self, chunk: Chunk, lines: list[Entry], dead_letters: list[DeadLetter], primary: int
    ) -> None:
        """Add the chunk's lines to the storage batcher, which may wait on InfluxDB (its
        batches full): meanwhile the alarm reader knows not to wait for this path."""
        cache = self._decoded
        if cache is not None:
            cache.storage_blocked = True
        try:
            await self._batcher.add(chunk, lines, dead_letters, primary=primary)
        finally:
            if cache is not None:
                cache.storage_blocked = False
