"""Dead-letter records: what could not be processed, with why and where it came from.

Key: the original record key. Value (JSON)::

    {"reason": "temperature_c: sensor value must be a number, got str",
     "stage": "decode",
     "source": {"topic": "millstream.readings", "partition": 3, "offset": 1742,
                "timestamp_ms": 1766241000123},
     "value_base64": "eyJtYWNoaW5lX2lkIjog...",
     "value_text": "{\\"machine_id\\": ...}",
     "failed_at": "2025-12-20T14:30:01.250Z"}

``value_base64`` always holds the exact bytes (``null`` for a record without a value);
``value_text`` holds them decoded as UTF-8 when they are valid UTF-8, for people reading
the topic, else ``null``. ``stage`` is ``decode`` (the record broke the readings contract)
or ``influx`` (InfluxDB refused the point). The reason names the offending field.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from contracts.timefmt import format_ts

Stage = Literal["decode", "influx", "window", "audit", "alarms"]


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as consumed: its bytes and its place in the source topic."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None

    @classmethod
    def of(cls, record: Any, *, timestamp_ms: int | None) -> SourceRecord:
        """A consumed record (anything with ``key``, ``value``, ``topic``, ``partition``
        and ``offset``) with its timestamp in milliseconds."""
        return cls(
            record.key, record.value, record.topic, record.partition, record.offset, timestamp_ms
        )


def source_record(record: Any) -> SourceRecord:
    """A consumed record (aiokafka's, timestamp in ms) as a :class:`SourceRecord`."""
    if isinstance(record, SourceRecord):
        return record
    return SourceRecord.of(record, timestamp_ms=record.timestamp)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record for the dead-letter topic (key = the original key)."""

    key: bytes | None
    value: bytes

    @classmethod
    def build(
        cls, record: SourceRecord, *, reason: str, stage: Stage, failed_at_ms: int
    ) -> DeadLetter:
        return cls(
            key=record.key,
            value=orjson.dumps(
                dead_letter_body(record, reason=reason, stage=stage, failed_at_ms=failed_at_ms)
            ),
        )


def _text_or_none(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def dead_letter_body(
    record: SourceRecord, *, reason: str, stage: Stage, failed_at_ms: int
) -> dict[str, Any]:
    return {
        "reason": reason,
        "stage": stage,
        "source": {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp_ms": record.timestamp_ms,
        },
        "value_base64": (
            base64.b64encode(record.value).decode("ascii") if record.value is not None else None
        ),
        "value_text": _text_or_none(record.value),
        "failed_at": format_ts(failed_at_ms),
    }
