"""Records of an event topic become InfluxDB points: the audit and the alarm events.

Each record decodes into one line (a point whose time and tags identify the record, so a
replay overwrites the same point). Batched and acked like readings: offsets are committed
only after InfluxDB accepted the batch; a record that does not decode is dead-lettered
with the reason, under the loop's stage, while the records around it are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from contracts.errors import ContractError
from contracts.timefmt import now_ms
from pipeline.faust_ext.chunks import Chunk
from pipeline.storage.batcher import StorageBatcher
from pipeline.storage.dead_letter import DeadLetter, Stage, source_record
from pipeline.storage.routing import Entry

ToLine = Callable[[bytes], str]
# The batcher's entries for lines and the records they came from (one per InfluxDB server).
Route = Callable[[list[str], list[Any]], list[Entry]]


def decode_rows(
    records: Iterable[Any], to_line: ToLine, *, stage: Stage, now_ms: int
) -> tuple[list[str], list[Any], list[DeadLetter]]:
    """Lines, the records they came from, and the dead letters of the others."""
    lines: list[str] = []
    sources: list[Any] = []
    dead: list[DeadLetter] = []
    for record in records:
        try:
            if record.value is None:
                raise ContractError("value: missing (null record)")
            lines.append(to_line(record.value))
            sources.append(record)
        except ContractError as exc:
            dead.append(
                DeadLetter.build(
                    source_record(record), reason=str(exc), stage=stage, failed_at_ms=now_ms
                )
            )
    return lines, sources, dead


class RowsLoop:
    """A chunk handler: decode, then hand the lines to ``batcher`` as ``route`` sorts them."""

    def __init__(
        self, *, what: Stage, to_line: ToLine, route: Route, batcher: StorageBatcher
    ) -> None:
        self._what = what
        self._to_line = to_line
        self._route = route
        self._batcher = batcher

    async def on_chunk(self, chunk: Chunk) -> None:
        lines, sources, dead = decode_rows(
            chunk.records, self._to_line, stage=self._what, now_ms=now_ms()
        )
        await self._batcher.add(chunk, self._route(lines, sources), dead, primary=len(lines))
