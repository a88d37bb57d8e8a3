"""The historian import's row parsing: CSV as `millstream query` writes it, line protocol of
the readings measurement, and errors that name the line."""

from __future__ import annotations

import pytest

from cli.historian import Defaults, RowError, csv_rows, detect_format, lp_rows, to_ms
from cli.lineprotocol import parse_line
from contracts.errors import ContractError


def test_csv_rows_become_flat_readings_with_quality_and_defaults() -> None:
    lines = [
        "machine_id,ts,temperature_c,power_kw,temperature_c_quality\n",
        "42,2025-12-20T14:30:00.000Z,68.5,12,\n",
        "42,2025-12-20T14:30:01.000Z,,13.5,\n",
        "43,2025-12-20T14:30:02+01:00,70,,bad\n",
    ]
    rows = list(csv_rows(lines, Defaults(plant="hall-b")))
    assert [r.line for r in rows] == [2, 3, 4]
    assert rows[0].reading == {
        "machine_id": 42,
        "timestamp": "2025-12-20T14:30:00.000Z",
        "temperature_c": 68.5,
        "power_kw": 12.0,
        "plant": "hall-b",
    }
    assert rows[1].reading["power_kw"] == 13.5 and "temperature_c" not in rows[1].reading
    assert rows[2].reading["timestamp"] == "2025-12-20T13:30:02.000Z"
    assert rows[2].reading["quality"] == {"temperature_c": "bad"}


def test_csv_without_machine_column_takes_the_default_machine() -> None:
    [row] = csv_rows(["ts,temperature_c\n", "2025-12-20T14:30:00Z,1\n"], Defaults(machine="m-1"))
    assert row.reading["machine_id"] == "m-1"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["ts,temperature_c\n", "2025-12-20T14:30:00Z,1\n"], "line 2: machine_id: missing"),
        (["machine_id,temperature_c\n"], "line 1: header: no time column"),
        (
            ["machine_id,ts,t_c\n", "42,2025-12-20T14:30:00Z,1\n", "42,yesterday,2\n"],
            "line 3: time",
        ),
        (["machine_id,ts,t_c\n", "42,2025-12-20T14:30:00Z,hot\n"], "line 2: t_c: 'hot' is not"),
        (["machine_id,ts,Temp\n", "42,2025-12-20T14:30:00Z,1\n"], "line 2: 'Temp'"),
        (["machine_id,ts,t_c\n", "42,2025-12-20T14:30:00Z\n"], "line 2: 2 cells"),
        (["machine_id,ts,t_c\n", "4 2,2025-12-20T14:30:00Z,1\n"], "line 2: machine_id"),
        (["machine_id,ts,t_c\n", "42,2025-12-20T14:30:00Z,nan\n"], "line 2: t_c"),
    ],
)
def test_a_bad_csv_row_is_named_by_its_line(lines: list[str], expected: str) -> None:
    with pytest.raises(RowError) as caught:
        list(csv_rows(lines, Defaults()))
    assert str(caught.value).startswith(expected), str(caught.value)


def test_line_protocol_rows_with_precision_bools_and_quality() -> None:
    lines = [
        "# exported\n",
        "readings,machine_id=42,plant=hall-b,line=3 temperature_c=68.5,running=true "
        "1766241000000\n",
        "\n",
        'readings,machine_id=43 spindle_rpm=1200i,spindle_rpm_quality="uncertain" '
        "1766241000123456789\n",
    ]
    rows = list(lp_rows(lines, Defaults(), "auto"))
    assert [r.line for r in rows] == [2, 4]
    assert rows[0].reading == {
        "machine_id": 42,
        "timestamp": "2025-12-20T14:30:00.000Z",
        "temperature_c": 68.5,
        "running": 1.0,
        "plant": "hall-b",
        "line": "3",
    }
    assert rows[1].reading["timestamp"] == "2025-12-20T14:30:00.123Z"
    assert rows[1].reading["spindle_rpm"] == 1200.0
    assert rows[1].reading["quality"] == {"spindle_rpm": "uncertain"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("cpu,machine_id=42 t_c=1 1766241000000", "measurement 'cpu'"),
        ("readings,host=a,machine_id=42 t_c=1 1766241000000", "tag 'host'"),
        ("readings,machine_id=42 t_c=1", "no timestamp"),
        ("readings,machine_id=42 t_c=hot 1766241000000", "field t_c"),
        ('readings,machine_id=42 note="x" 1766241000000', "field note"),
        ("readings,machine_id=42", "no fields"),
        ("readings,machine_id=42 t_c=1 soon", "timestamp 'soon'"),
    ],
)
def test_a_bad_line_protocol_row_is_named_by_its_line(line: str, expected: str) -> None:
    with pytest.raises(RowError) as caught:
        list(lp_rows(["readings,machine_id=1 t_c=1 1766241000000\n", line], Defaults(), "ms"))
    assert str(caught.value).startswith("line 2: ")
    assert expected in str(caught.value), str(caught.value)


def test_line_protocol_escapes_and_quoted_strings() -> None:
    point = parse_line(
        r'readings,plant=hall\ b,line=a\,b,machine_id=42 t_c=1.5,t_c_quality="ba d\"x",n=-3i 10'
    )
    assert point.tags == {"plant": "hall b", "line": "a,b", "machine_id": "42"}
    assert point.fields == {"t_c": 1.5, "t_c_quality": 'ba d"x', "n": -3}
    assert point.timestamp == 10
    with pytest.raises(ContractError, match="closing quote"):
        parse_line('readings t="open 1')


@pytest.mark.parametrize(
    ("stamp", "precision", "ms"),
    [
        (1766241000, "auto", 1766241000000),
        (1766241000123, "auto", 1766241000123),
        (1766241000123456, "auto", 1766241000123),
        (1766241000123456789, "auto", 1766241000123),
        (1766241000, "ms", 1766241000),
    ],
)
def test_timestamps_in_each_precision(stamp: int, precision: str, ms: int) -> None:
    assert to_ms(stamp, precision) == ms  # type: ignore[arg-type]


def test_format_is_guessed_from_the_first_line() -> None:
    assert detect_format("readings,machine_id=42 t=1 1\n") == "lp"
    assert detect_format("machine_id,ts,temperature_c\n") == "csv"
