"""format_ts: the cached form gives what strftime of the whole timestamp gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from contracts.timefmt import datetime_ms, format_ts, parse_ts


@given(ts_ms=st.integers(min_value=0, max_value=4_102_444_800_000))
def test_format_ts_matches_strftime_and_parses_back(ts_ms: int) -> None:
    dt = datetime.fromtimestamp(ts_ms // 1000, tz=UTC)
    assert format_ts(ts_ms) == dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"
    assert parse_ts(format_ts(ts_ms)) == ts_ms


@given(
    ts_ms=st.integers(min_value=0, max_value=4_102_444_800_000), offset_min=st.integers(-720, 840)
)
def test_fast_and_general_parse_agree(ts_ms: int, offset_min: int) -> None:
    from datetime import timedelta, timezone

    zone = timezone(timedelta(minutes=offset_min))
    other = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(zone)
    general = other.isoformat(timespec="milliseconds")
    assert parse_ts(general) == parse_ts(format_ts(ts_ms)) == ts_ms


def test_fast_path_rejects_what_iso_rejects() -> None:
    import pytest

    for bad in ("2025-13-20T14:30:00.123Z", "2025-12-20T25:30:00.123Z", "2025-12-20T14:30:0a.123Z"):
        with pytest.raises(ValueError):
            parse_ts(bad)


@given(ts_ms=st.integers(min_value=0, max_value=4_102_444_800_000))
def test_datetime_ms_is_exact(ts_ms: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)
    assert datetime_ms(moment) == ts_ms
    assert datetime_ms(moment.replace(tzinfo=None)) == ts_ms


def test_datetime_ms_keeps_the_millisecond_float_arithmetic_loses() -> None:
    moment = datetime(2004, 3, 29, 1, 40, 6, 304_000, tzinfo=UTC)
    assert int(moment.timestamp() * 1000) == 1080524406303  # the float form drops a ms
    assert datetime_ms(moment) == 1080524406304
