import pytest

from api.history.csvrows import FluxResultError, normalize_rfc3339, points_from_csv

PIVOTED = (
    "#datatype,string,long,dateTime:RFC3339,string,string,string,double,double,long\r\n"
    ",result,table,_time,line,machine_id,plant,power_kw,temperature_c,count\r\n"
    ",_result,0,2025-12-20T14:30:00Z,3,42,plant-1,12.5,68.1,4\r\n"
    ",_result,0,2025-12-20T14:30:10.123456789Z,3,42,plant-1,,68.4,5\r\n"
    "\r\n"
)


def test_rfc3339_from_influx_is_normalized_to_milliseconds():
    assert normalize_rfc3339("2025-12-20T14:30:00Z") == "2025-12-20T14:30:00.000Z"
    assert normalize_rfc3339("2025-12-20T14:30:00.1Z") == "2025-12-20T14:30:00.100Z"
    assert normalize_rfc3339("2025-12-20T14:30:00.123456789Z") == "2025-12-20T14:30:00.123Z"
    assert normalize_rfc3339("2025-12-20T15:30:00+01:00") == "2025-12-20T14:30:00.000Z"


def test_numeric_columns_become_fields_and_empty_cells_are_left_out():
    assert points_from_csv(PIVOTED) == [
        {"ts": "2025-12-20T14:30:00.000Z", "power_kw": 12.5, "temperature_c": 68.1, "count": 4},
        {"ts": "2025-12-20T14:30:10.123Z", "temperature_c": 68.4, "count": 5},
    ]


def test_several_tables_and_empty_results():
    second = (
        "#datatype,string,long,dateTime:RFC3339,double\r\n"
        ",result,table,_time,vibration_mm_s\r\n"
        ",_result,1,2025-12-20T14:31:00Z,3.5\r\n"
    )

    points = points_from_csv(PIVOTED + second)

    assert points[-1] == {"ts": "2025-12-20T14:31:00.000Z", "vibration_mm_s": 3.5}
    assert len(points) == 3
    assert points_from_csv("") == []
    assert points_from_csv("\r\n") == []


def test_error_table_in_the_result_is_raised():
    text = "#datatype,string,string\r\n,error,reference\r\n,panic: out of memory,\r\n"

    with pytest.raises(FluxResultError, match="out of memory"):
        points_from_csv(PIVOTED + "\r\n" + text)
