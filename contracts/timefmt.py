"""UTC timestamps with millisecond precision, as Millstream writes them."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_ts(ts_ms: int) -> str:
    """``1766241000123`` -> ``"2025-12-20T14:30:00.123Z"``.

    The date and time up to the second are cached: readings of one second share them, and
    ``strftime`` was a third of the cost of encoding a reading."""
    ts_s, ms = divmod(ts_ms, 1000)
    return f"{_second_prefix(ts_s)}{ms:03d}Z"


@functools.lru_cache(maxsize=4096)
def _second_prefix(ts_s: int) -> str:
    return datetime.fromtimestamp(ts_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def parse_ts(text: str) -> int:
    """Parse an ISO-8601 timestamp into epoch milliseconds; naive times are UTC.

    The form :func:`format_ts` writes (``2025-12-20T14:30:00.123Z``) takes a fast path: the
    seconds are cached per prefix, as in :func:`format_ts`."""
    if len(text) == 24 and text[23] == "Z" and text[19] == "." and text[20:23].isdigit():
        return _prefix_seconds(text[:19]) * 1000 + int(text[20:23])
    return _parse_iso(text)


@functools.lru_cache(maxsize=4096)
def _prefix_seconds(prefix: str) -> int:
    return _parse_iso(prefix + "Z") // 1000


def _parse_iso(text: str) -> int:
    return datetime_ms(datetime.fromisoformat(text))


def datetime_ms(moment: datetime) -> int:
    """``moment`` in epoch milliseconds (a naive time is UTC), exactly:
    ``int(moment.timestamp() * 1000)`` turns ".001" into ".000" at times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
