"""A mean or sum's points from the windowed sums and counts of the aggregates Flux."""

from __future__ import annotations

import math

import pytest

from api.history.csvrows import FluxResultError
from api.history.windowsums import ieee_divide, window_sums

_SUMS = (
    "#datatype,string,long,dateTime:RFC3339,double,string,string",
    ",result,table,_time,_value,_field,sensor",
    ",,4,2026-12-01T01:00:00Z,10,sum,zeta",
    ",,4,2026-12-01T02:00:00Z,7.5,sum,zeta",
    ",,5,2026-12-01T02:00:00Z,9,sum,a_b",
    ",,5,2026-12-01T02:17:12.3455Z,1.25,sum,a_b",
    ",,6,2026-12-01T01:00:00Z,3,sum,a1",
)
_COUNTS = (
    "#datatype,string,long,dateTime:RFC3339,long,string,string",
    ",result,table,_time,_value,_field,sensor",
    ",,0,2026-12-01T01:00:00Z,4,count,zeta",
    ",,0,2026-12-01T02:00:00Z,3,count,zeta",
    ",,1,2026-12-01T02:00:00Z,2,count,a_b",
    ",,1,2026-12-01T02:17:12.3455Z,5,count,a_b",
    # A count with no sum beside it: the window is there, the sensor's value is not.
    ",,2,2026-12-01T00:30:00Z,2,count,a1",
)
_UNSUMMED = ("#datatype,string,long,long", ",result,table,unsummed", ",,0,{}")


def _text(*blocks: tuple[str, ...], annotations: bool = False) -> str:
    """Annotated CSV as InfluxDB sends it (CRLF, a blank line between blocks)."""
    out = []
    for block in blocks:
        lines = list(block)
        if annotations:
            lines[1:1] = ["#group,false,false,false", "#default,_result,,"]
        out.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(out) + "\r\n"


@pytest.mark.parametrize("annotations", [False, True], ids=["datatype", "all-annotations"])
def test_means_pair_each_sensors_sums_and_counts_by_window_end(annotations: bool) -> None:
    unsummed = tuple(line.format(0) for line in _UNSUMMED)
    found = window_sums(_text(_COUNTS, unsummed, _SUMS, annotations=annotations))
    assert found.unsummed == 0
    assert found.points(fn="mean", limit=100) == [
        {"ts": "2026-12-01T00:30:00.000Z"},
        {"ts": "2026-12-01T01:00:00.000Z", "zeta": 2.5},
        {"ts": "2026-12-01T02:00:00.000Z", "a_b": 4.5, "zeta": 2.5},
        {"ts": "2026-12-01T02:17:12.345Z", "a_b": 0.25},
    ]
    # A sum needs no count; a1's sum at 01:00 has none and is there.
    assert found.points(fn="sum", limit=100)[1:3] == [
        {"ts": "2026-12-01T01:00:00.000Z", "a1": 3.0, "zeta": 10.0},
        {"ts": "2026-12-01T02:00:00.000Z", "a_b": 9.0, "zeta": 7.5},
    ]
    # Sensors in name order ('1' < '_' < letters), as the Flux pivot orders its columns.
    assert list(found.points(fn="sum", limit=100)[1]) == ["ts", "a1", "zeta"]


def test_at_most_limit_plus_one_points_oldest_first() -> None:
    points = window_sums(_text(_SUMS, _COUNTS)).points(fn="mean", limit=1)
    assert [p["ts"] for p in points] == ["2026-12-01T00:30:00.000Z", "2026-12-01T01:00:00.000Z"]


def test_the_minutes_without_a_sum_are_counted() -> None:
    text = _text(_SUMS, tuple(line.format(42) for line in _UNSUMMED), _COUNTS)
    assert window_sums(text).unsummed == 42
    # No minutes in range: no tables at all.
    assert window_sums("").unsummed == 0 and window_sums("").points(fn="mean", limit=9) == []


def test_a_quoted_line_is_read_as_csv() -> None:
    quoted = (*_SUMS[:2], ',,4,2026-12-01T01:00:00Z,10,sum,"zeta"')
    counts = (*_COUNTS[:2], _COUNTS[2])
    assert window_sums(_text(quoted, counts)).points(fn="mean", limit=9) == [
        {"ts": "2026-12-01T01:00:00.000Z", "zeta": 2.5}
    ]


def test_an_error_influxdb_reported_mid_result_is_raised() -> None:
    error = ("#datatype,string,string", ",error,reference", ',"out of memory, try less",')
    with pytest.raises(FluxResultError, match="out of memory, try less"):
        window_sums(_text(_SUMS, error))


@pytest.mark.parametrize(
    ("num", "den", "want"),
    [(5.0, 2.0, 2.5), (3.0, 0.0, math.inf), (-3.0, 0.0, -math.inf), (0.0, 0.0, math.nan)],
)
def test_dividing_by_a_zero_count_is_what_flux_gives(num: float, den: float, want: float) -> None:
    got = ieee_divide(num, den)
    assert (math.isnan(got) and math.isnan(want)) or got == want
