from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from api.history.flux import (
    flux_string,
    flux_time,
    latest_flux,
    latest_texts_flux,
    readings_flux,
)
from api.history.params import readings_query

NOW = datetime(2025, 12, 20, 14, 30, tzinfo=UTC)


def _query(**overrides):
    params = {
        "machine_id": "42",
        "start": "-1h",
        "stop": "now",
        "fields": None,
        "window": None,
        "fn": None,
        "limit": 10,
        "now": NOW,
        "default_limit": 100,
        "max_limit": 1000,
    }
    params.update(overrides)
    return readings_query(**params)


def test_flux_strings_escape_quotes_backslashes_and_interpolation():
    assert flux_string("telemetry") == '"telemetry"'
    assert flux_string('a"b') == '"a\\"b"'
    assert flux_string("a\\b") == '"a\\\\b"'
    assert flux_string("${x}") == '"\\${x}"'


def test_flux_time_is_utc_with_fraction():
    assert flux_time(NOW) == "2025-12-20T14:30:00.000000Z"


def test_raw_query_filters_machine_and_numeric_values_and_pivots():
    flux = readings_flux(_query(), bucket="telemetry")

    assert 'from(bucket: "telemetry")' in flux
    assert "range(start: 2025-12-20T13:30:00.000000Z, stop: 2025-12-20T14:30:00.000000Z)" in flux
    assert 'r._measurement == "readings" and r.machine_id == "42"' in flux
    assert 'types.isType(v: r._value, type: "float")' in flux
    assert "aggregateWindow" not in flux
    assert 'pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")' in flux
    assert "limit(n: 11)" in flux
    assert "r._field" not in flux


def test_fields_and_window_are_rendered_from_validated_values():
    flux = readings_flux(
        _query(fields="temperature_c,power_kw", window="1h30m", fn="max"), bucket="telemetry"
    )

    assert '(r) => r._field == "temperature_c" or r._field == "power_kw")' in flux
    assert "aggregateWindow(every: 1h30m, fn: max, createEmpty: false)" in flux
    assert flux.index("aggregateWindow") < flux.index("pivot")


@pytest.mark.parametrize("build", [latest_flux, latest_texts_flux])
def test_latest_queries_let_influxdb_push_last_down(build: Callable[..., str]) -> None:
    """last() straight after range and filter runs in InfluxDB's storage engine; a filter
    on the value's type before it made InfluxDB read every point of the range."""
    flux = build(
        bucket="telemetry",
        machine_id="42",
        start=datetime(2025, 12, 1, tzinfo=UTC),
        stop=datetime(2025, 12, 20, tzinfo=UTC),
    )
    steps = [line.strip() for line in flux.splitlines() if line.strip().startswith("|>")]
    assert steps[0].startswith("|> range(") and steps[1].startswith("|> filter(")
    assert steps[2].startswith("|> last()")
