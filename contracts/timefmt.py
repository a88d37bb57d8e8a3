"""UTC timestamps with millisecond precision, as Millstream writes them."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_ts(ts_ms: int) -> str:
    """``1766241000123`` -> ``"2025-12-20T14:30:00.123Z"``."""
    dt = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def parse_ts(text: str) -> int:
    """Parse an ISO-8601 timestamp into epoch milliseconds; naive times are UTC."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
