"""Picking the bucket a readings query reads, the aggregates Flux, and the CSV answer."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from api.errors import InvalidInputError
from api.history.csvout import readings_csv
from api.history.params import parse_duration, readings_query
from api.history.sources import (
    AGGREGATED,
    RAW,
    aggregated_flux,
    pick_source,
    unsummed_flux,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _query(window: str | None, fn: str | None, fields: str | None = None):  # type: ignore[no-untyped-def]
    return readings_query(
        machine_id="42",
        start="-30d",
        stop="now",
        fields=fields,
        window=window,
        fn=fn,
        limit=None,
        now=NOW,
        default_limit=100,
        max_limit=1000,
    )


@pytest.mark.parametrize(
    ("window", "fn", "source", "picked"),
    [
        ("1h", "mean", None, RAW),
        ("1h", "mean", "auto", AGGREGATED),
        ("1m", "max", "auto", AGGREGATED),
        ("1h30m", "count", "aggregates", AGGREGATED),
        ("1h", "mean", "raw", RAW),
        ("30s", "mean", "auto", RAW),
        ("90s", "mean", "auto", RAW),
        ("1h", "median", "auto", RAW),
        ("1h", "stddev", "auto", RAW),
        (None, None, None, RAW),
    ],
)
def test_pick_source(window: str | None, fn: str | None, source: str | None, picked: str) -> None:
    every = None if window is None else parse_duration(window, param="window")
    assert pick_source(source, window=every, fn=fn) == picked


@pytest.mark.parametrize(("window", "fn"), [("90s", "mean"), ("1h", "median"), (None, None)])
def test_asking_aggregates_that_cannot_answer_is_422_naming_source(
    window: str | None, fn: str | None
) -> None:
    every = None if window is None else parse_duration(window, param="window")
    with pytest.raises(InvalidInputError, match=r"^source: aggregates needs"):
        pick_source("aggregates", window=every, fn=fn)


def test_an_unknown_source_is_named() -> None:
    with pytest.raises(InvalidInputError, match=r"source: 'cold' is not one of"):
        pick_source("cold", window=None, fn=None)


def test_mean_adds_sums_and_counts_and_min_reads_the_minima() -> None:
    mean = aggregated_flux(_query("1h", "mean", "temperature_c"), bucket="aggregates")
    assert 'r.window == "1m"' in mean and 'r.sensor == "temperature_c"' in mean
    # The sums and counts as they are (api.history.windowsums divides them).
    assert mean.endswith('  |> keep(columns: ["_time", "sensor", "_field", "_value"])')
    assert aggregated_flux(_query("1h", "sum"), bucket="aggregates") == mean.replace(
        '\n  |> filter(fn: (r) => r.sensor == "temperature_c")', ""
    )
    # Minutes without a sum (older workers) weigh their mean by their count instead.
    unsummed = unsummed_flux(_query("1h", "mean", "temperature_c"), bucket="aggregates")
    assert 'r.window == "1m"' in unsummed and 'r.sensor == "temperature_c"' in unsummed
    assert "if exists r.sum then r.sum else r.mean * float(v: r.count)" in unsummed
    assert 'windowed(field: "count", as: "n")' in unsummed and "_value: r.s / r.n" in unsummed
    assert unsummed.endswith("limit(n: 101)")
    total_unsummed = unsummed_flux(_query("1h", "sum"), bucket="aggregates")
    assert "_value: r.s}))" in total_unsummed and "r.s / r.n" not in total_unsummed
    low = aggregated_flux(_query("15m", "min"), bucket="aggregates")
    assert 'r._field == "min"' in low and "aggregateWindow(every: 15m, fn: min" in low
    count = aggregated_flux(_query("1h", "count"), bucket="aggregates")
    assert 'r._field == "count"' in count and "fn: sum" in count
    assert count.endswith("limit(n: 101)")
    assert "yield(" not in low + count
    with pytest.raises(RuntimeError, match="mean or sum"):
        unsummed_flux(_query("1h", "max"), bucket="aggregates")


def test_summed_minutes_are_read_once_for_sums_and_counts_together() -> None:
    """Both sums of a mean come from one read that InfluxDB's storage engine windows
    (``aggregateWindow`` right after ``range`` and ``filter``), returned with no work in
    the Flux engine; the count of minutes without a sum is a result of the same query."""
    mean = aggregated_flux(_query("1h", "mean"), bucket="aggregates").splitlines()
    check = mean[mean.index('  |> yield(name: "unsummed")') - 6 :]
    assert check == [
        "data()",
        '  |> filter(fn: (r) => r._field == "count" or r._field == "sum")',
        "  |> count()",
        '  |> map(fn: (r) => ({unsummed: if r._field == "sum" then -r._value else r._value}))',
        "  |> group()",
        '  |> sum(column: "unsummed")',
        '  |> yield(name: "unsummed")',
        "data()",
        '  |> filter(fn: (r) => r._field == "sum" or r._field == "count")',
        "  |> aggregateWindow(every: 1h, fn: sum, createEmpty: false)",
        '  |> keep(columns: ["_time", "sensor", "_field", "_value"])',
    ]


def test_csv_has_the_import_shape_with_quality_beside_its_sensor() -> None:
    text = readings_csv(
        "42",
        [
            {"ts": "2026-12-01T00:00:00.000Z", "temperature_c": 68.1, "power_kw": 11},
            {
                "ts": "2026-12-01T00:00:01.000Z",
                "temperature_c": 0.1,
                "temperature_c_quality": "bad",
            },
        ],
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["machine_id", "ts", "power_kw", "temperature_c", "temperature_c_quality"],
        ["42", "2026-12-01T00:00:00.000Z", "11", "68.1", ""],
        ["42", "2026-12-01T00:00:01.000Z", "", "0.1", "bad"],
    ]
    assert readings_csv("42", []) == "machine_id,ts\n"


def test_raw_flux_with_quality_keeps_the_quality_strings_of_the_fields_asked() -> None:
    from api.history.flux import readings_flux

    flux = readings_flux(_query(None, None, "temperature_c"), bucket="telemetry", quality=True)
    assert 'r._field == "temperature_c_quality"' in flux and "r._field =~ /_quality$/" in flux
    plain = readings_flux(_query(None, None, "temperature_c"), bucket="telemetry")
    assert "_quality" not in plain
    windowed = readings_flux(_query("1m", "mean"), bucket="telemetry", quality=True)
    assert "_quality" not in windowed


def test_openapi_declares_csv_the_source_and_the_parameters() -> None:
    from api.app import create_app
    from api.settings import ApiSettings

    operation = create_app(ApiSettings()).openapi()["paths"]["/api/machines/{machine_id}/readings"]
    ok = operation["get"]["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "text/csv"}
    assert "X-Millstream-Source" in ok["headers"] and "Link" in ok["headers"]
    params = {p["name"]: p for p in operation["get"]["parameters"]}
    assert {"format", "source"} <= set(params)
    schema = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert schema == "ReadingsOut"
