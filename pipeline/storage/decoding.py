"""Decoding one chunk of readings records, without I/O: readings, their lines, dead letters.

:func:`decode_records` turns consumed records (aiokafka records or :class:`SourceRecord`,
anything with ``key``, ``value``, ``topic``, ``partition``, ``offset``, ``timestamp``) into
the decoded readings in offset order, one InfluxDB line per reading, and a dead letter for
every record that does not decode, whose reason names the field. It never raises on bad
data; the records around a bad one are processed as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.errors import ContractError
from contracts.readings import Reading, decode_reading
from pipeline.storage.dead_letter import DeadLetter, source_record
from pipeline.storage.decoded_cache import DecodedReadings
from pipeline.storage.line_protocol import reading_line

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Decoded:
    readings: list[Reading] = field(default_factory=list)
    # The record each reading came from, index for index.
    sources: list[Any] = field(default_factory=list)
    reading_lines: list[str] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def extend(self, more: Decoded) -> None:
        self.readings += more.readings
        self.sources += more.sources
        self.reading_lines += more.reading_lines
        self.dead_letters += more.dead_letters


def decode_records(
    records: Iterable[Any], *, now_ms: int, decoded: DecodedReadings | None = None
) -> Decoded:
    """``decoded``: readings already decoded by the readings reader, taken where present."""
    out = Decoded()
    readings = out.readings
    sources = out.sources
    lines = out.reading_lines
    for record in records:
        if decoded is not None:
            reading = decoded.take(record.topic, record.partition, record.offset)
            if reading is not None:
                readings.append(reading)
                sources.append(record)
                lines.append(reading_line(reading))
                continue
        value = record.value
        if value is None:
            out.dead_letters.append(
                DeadLetter.build(
                    source_record(record),
                    reason="value: missing (null record)",
                    stage="decode",
                    failed_at_ms=now_ms,
                )
            )
            continue
        try:
            reading = decode_reading(value)
        except ContractError as exc:
            out.dead_letters.append(
                DeadLetter.build(
                    source_record(record), reason=str(exc), stage="decode", failed_at_ms=now_ms
                )
            )
            continue
        except Exception as exc:
            # The contract should have named the field; still, one odd record must not
            # stop the stream.
            logger.warning(
                "reading decode failed unexpectedly topic=%s partition=%d offset=%d error=%r",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            out.dead_letters.append(
                DeadLetter.build(
                    source_record(record),
                    reason=f"reading: cannot be decoded ({type(exc).__name__}: {exc})",
                    stage="decode",
                    failed_at_ms=now_ms,
                )
            )
            continue
        readings.append(reading)
        sources.append(record)
        lines.append(reading_line(reading))
    return out
