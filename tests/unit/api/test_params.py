from datetime import UTC, datetime, timedelta

import pytest

from api.errors import InvalidInputError
from api.history.params import (
    parse_duration,
    parse_fields,
    parse_function,
    parse_instant,
    parse_limit,
    parse_range,
    readings_query,
)

NOW = datetime(2025, 12, 20, 14, 30, tzinfo=UTC)


def _query(**overrides):
    params = {
        "machine_id": "42",
        "start": "-1h",
        "stop": "now",
        "fields": None,
        "window": None,
        "fn": None,
        "limit": None,
        "now": NOW,
        "default_limit": 100,
        "max_limit": 1000,
    }
    params.update(overrides)
    return readings_query(**params)


@pytest.mark.parametrize(
    ("text", "ms", "flux"),
    [
        ("1m", 60_000, "1m"),
        ("90s", 90_000, "90s"),
        ("1h30m", 5_400_000, "1h30m"),
        ("250ms", 250, "250ms"),
        ("2w", 1_209_600_000, "2w"),
    ],
)
def test_durations_are_parsed_and_rerendered(text, ms, flux):
    duration = parse_duration(text, param="window")

    assert duration.ms == ms
    assert duration.flux() == flux


@pytest.mark.parametrize("text", ["", "1", "m", "1x", "1mo", "-1m", "1m ", "0s", "1m)", "1.5h"])
def test_bad_durations_name_the_parameter(text):
    with pytest.raises(InvalidInputError, match=r"^window: "):
        parse_duration(text, param="window")


def test_instants_relative_absolute_and_now():
    assert parse_instant("now", param="stop", now=NOW) == NOW
    assert parse_instant("-1h", param="start", now=NOW) == NOW - timedelta(hours=1)
    assert parse_instant("2025-12-20T15:30:00+01:00", param="start", now=NOW) == NOW
    assert parse_instant("2025-12-20T14:30:00.5Z", param="start", now=NOW) == NOW + timedelta(
        milliseconds=500
    )


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2025-12-20",
        "2025-12-20T14:30:00",
        "-1x",
        "1h",
        "1900-01-01T00:00:00Z",
        '2025-12-20T14:30:00Z") |> drop(columns: ["_value"])',
    ],
)
def test_bad_instants_name_the_parameter(text):
    with pytest.raises(InvalidInputError, match=r"^start: "):
        parse_instant(text, param="start", now=NOW)


def test_fields_are_split_deduplicated_and_validated():
    assert parse_fields(None) is None
    assert parse_fields("temperature_c, power_kw,temperature_c") == ("temperature_c", "power_kw")
    for bad in ["", "Temperature", 'temperature_c"', "a,,b", "temp-c", "x" * 65]:
        with pytest.raises(InvalidInputError, match=r"^fields: "):
            parse_fields(bad)


def test_function_whitelist():
    assert parse_function("mean") == "mean"
    assert parse_function(None) is None
    with pytest.raises(InvalidInputError, match=r"^fn: 'drop' is not one of count, first"):
        parse_function("drop")


def test_query_defaults_and_window_implies_mean():
    query = _query(window="5m")

    assert query.start == NOW - timedelta(hours=1)
    assert query.stop == NOW
    assert query.fn == "mean"
    assert query.limit == 100


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"fn": "max"}, "window"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"start": "now", "stop": "-1h"}, "start"),
        ({"machine_id": "bad id!"}, "machine_id"),
    ],
)
def test_query_validation_names_the_parameter(overrides, named):
    with pytest.raises(InvalidInputError, match=f"^{named}: "):
        _query(**overrides)


def test_range_is_start_before_stop():
    assert parse_range("-1h", "now", now=NOW) == (NOW - timedelta(hours=1), NOW)
    for start, stop in (("now", "-1h"), ("now", "now")):
        with pytest.raises(InvalidInputError, match=r"^start: must be before stop$"):
            parse_range(start, stop, now=NOW)
    with pytest.raises(InvalidInputError, match=r"^stop: "):
        parse_range("-1h", "soon", now=NOW)


def test_limit_defaults_and_is_bounded():
    assert parse_limit(None, default=100, most=1000) == 100
    assert parse_limit(1000, default=100, most=1000) == 1000
    for limit in (0, 1001):
        with pytest.raises(InvalidInputError, match=r"^limit: must be between 1 and 1000$"):
            parse_limit(limit, default=100, most=1000)
