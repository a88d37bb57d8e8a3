"""The readings loop: per chunk of consumed readings, decode, alarms at once, windows, and
hand the lines to the storage batcher, which writes them in the background.

Alarms do not wait for storage batching: the alarm stage evaluates each chunk as soon as it
is fetched and publishes its events before the chunk joins the InfluxDB batch (their rows
are written with that batch). Offsets are acked only after the batch holding the chunk is
in InfluxDB (:mod:`pipeline.storage.batcher`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from contracts.alarms import AlarmEvent
from contracts.readings import Reading
from contracts.timefmt import now_ms
from pipeline.batch import decode_records
from pipeline.chunks import Chunk
from pipeline.dead_letter import DeadLetter
from pipeline.line_protocol import alarm_line
from pipeline.sink.influx import InfluxSink
from pipeline.storage.batcher import StorageBatcher

logger = logging.getLogger(__name__)


class AlarmStage(Protocol):
    async def process(self, readings: Sequence[Reading], now_ms: int) -> list[AlarmEvent]:
        """Evaluate and publish; return the events published."""


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
        alarms: AlarmStage | None,
        windows: WindowStage | None,
    ) -> None:
        self._sink = sink
        self._batcher = batcher
        self._alarms = alarms
        self._windows = windows
        self.readings_seen = 0

    async def on_chunk(self, chunk: Chunk) -> None:
        at_ms = now_ms()
        decoded = decode_records(chunk.records, now_ms=at_ms)
        readings = decoded.readings
        self.readings_seen += len(readings)
        alarm_lines: list[str] = []
        if self._alarms is not None and readings:
            events = await self._alarms.process(readings, at_ms)
            alarm_lines = [alarm_line(event) for event in events]
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
                ("alarms", sink.write_alarms, alarm_lines, None),
                ("aggregates", sink.write_aggregates, aggregate_lines, None),
            ],
            dead_letters,
            primary=len(decoded.reading_lines),
        )
