"""The readings loop, the storage path: per chunk of consumed readings, decode, windows,
and hand the lines to the storage batcher, which writes them in the background.

Offsets are acked only after the batch holding the chunk is in InfluxDB
(:mod:`pipeline.storage.batcher`). Alarms are not evaluated here: they must not wait for
storage, so :class:`pipeline.alarms.reader.AlarmReader` reads the same partitions at a
position of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from contracts.readings import Reading
from contracts.timefmt import now_ms
from pipeline.batch import decode_records
from pipeline.chunks import Chunk
from pipeline.dead_letter import DeadLetter
from pipeline.sink.influx import InfluxSink
from pipeline.storage.batcher import StorageBatcher

logger = logging.getLogger(__name__)

# Records decoded between two yields to the event loop.
SLICE = 500


class WindowStage(Protocol):
    async def apply(
        self,
        readings: Sequence[Reading],
        offsets: Sequence[int],
        sources: Sequence[object],
        now_ms: int,
    ) -> tuple[list[str], list[DeadLetter]]:
        """Add readings to their windows, emit the closed ones; return their InfluxDB lines
        and the dead letters of late readings."""


class ReadingsLoop:
    def __init__(
        self,
        *,
        sink: InfluxSink,
        batcher: StorageBatcher,
        windows: WindowStage | None,
    ) -> None:
        self._sink = sink
        self._batcher = batcher
        self._windows = windows
        self.readings_seen = 0

    async def on_chunk(self, chunk: Chunk) -> None:
        at_ms = now_ms()
        records = chunk.records
        decoded = decode_records(records[:SLICE], now_ms=at_ms)
        for start in range(SLICE, len(records), SLICE):
            # Other tasks (the alarm reader above all) run between slices of a large chunk.
            await asyncio.sleep(0)
            decoded.extend(decode_records(records[start : start + SLICE], now_ms=at_ms))
        readings = decoded.readings
        self.readings_seen += len(readings)
        aggregate_lines: list[str] = []
        dead_letters = decoded.dead_letters
        if self._windows is not None and readings:
            aggregate_lines, late = await self._windows.apply(
                readings, [r.offset for r in decoded.sources], decoded.sources, at_ms
            )
            dead_letters.extend(late)
        sink = self._sink
        await self._batcher.add(
            chunk,
            [
                ("readings", sink.write_readings, decoded.reading_lines, decoded.sources),
                ("aggregates", sink.write_aggregates, aggregate_lines, None),
            ],
            dead_letters,
            primary=len(decoded.reading_lines),
        )
