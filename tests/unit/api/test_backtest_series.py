"""The backtest's history parsing: InfluxDB's CSV to a compact series, then readings."""

from api.thresholds.backtest import series_from_csv

CSV = """#datatype,string,long,dateTime:RFC3339,double,string
,result,table,_time,_value,_field
,_result,0,2025-12-20T14:30:00Z,67.5,temperature_c
,_result,0,2025-12-20T14:30:01.25Z,68,temperature_c
,_result,1,2025-12-20T14:29:59.5Z,66,temperature_c

#datatype,string,long,dateTime:RFC3339,string,string
,result,table,_time,_value,_field
,_result,2,2025-12-20T14:30:01.25Z,uncertain,temperature_c_quality
,_result,2,2025-12-20T14:30:02Z,stale,temperature_c_quality
"""
T = 1766241000000  # 2025-12-20T14:30:00Z


def test_series_merges_tables_by_time_and_keeps_qualities():
    series = series_from_csv(CSV, sensor="temperature_c")
    assert list(series.times) == [T - 500, T, T + 1250]
    assert list(series.values) == [66.0, 67.5, 68.0]
    assert len(series) == 4
    readings = list(series.readings("42", "temperature_c"))
    assert [(r.ts_ms, r.values, r.quality) for r in readings] == [
        (T - 500, {"temperature_c": 66.0}, {}),
        (T, {"temperature_c": 67.5}, {}),
        (T + 1250, {"temperature_c": 68.0}, {"temperature_c": "uncertain"}),
        (T + 2000, {}, {"temperature_c": "stale"}),
    ]


def test_count_answer():
    from api.thresholds.backtest import count_from_csv

    text = "#datatype,string,long,long\n,result,table,_value\n,_result,0,604800\n"
    assert count_from_csv(text) == 604800
    assert count_from_csv("") == 0
