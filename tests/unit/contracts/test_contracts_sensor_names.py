"""Sensor names that the InfluxDB schema derives, or that InfluxDB, Flux or the reading itself
already use, are refused wherever a sensor name enters: a reading, a device file, a rule."""

from __future__ import annotations

import pytest

from api.flat import reading_from_flat
from contracts.errors import ContractError
from contracts.influx_schema import (
    AGGREGATES_FIELDS,
    AGGREGATES_TAGS,
    ALARMS_TAGS,
    FLUX_COLUMNS,
    READINGS_TAGS,
)
from contracts.patterns import check_sensor_name, is_sensor_name
from contracts.readings import decode_reading

RESERVED = [
    "time",
    "result",
    "table",
    *READINGS_TAGS,
    *AGGREGATES_TAGS,
    *ALARMS_TAGS,
    "ts",
    "timestamp",
    "seq",
    "source",
    "quality",
    "values",
    "texts",
    "sensors",
]


@pytest.mark.parametrize("name", ["temperature_c_quality", "x_quality", "time", "plant"])
def test_a_derived_or_reserved_name_is_refused_naming_it(name: str) -> None:
    assert not is_sensor_name(name)
    with pytest.raises(ContractError, match=rf"^'{name}': sensor name .*choose another name"):
        check_sensor_name(name)


@pytest.mark.parametrize("name", RESERVED)
def test_every_reserved_name_is_refused(name: str) -> None:
    assert not is_sensor_name(name)


@pytest.mark.parametrize(
    "name", ["_value", "_measurement", "_field", "_start", "_stop", "_time", "_x"]
)
def test_influx_underscore_names_are_refused(name: str) -> None:
    with pytest.raises(ContractError, match="sensor names are"):
        check_sensor_name(name)


@pytest.mark.parametrize("name", ["temperature_c", "quality_index", "timer_s", "line_speed"])
def test_ordinary_names_still_pass(name: str) -> None:
    assert check_sensor_name(name) == name


def test_the_flat_reading_is_refused_naming_the_sensor() -> None:
    body = {"machine_id": "x", "temperature_c_quality": 1.0}
    with pytest.raises(ContractError, match=r"^'temperature_c_quality': sensor name"):
        reading_from_flat(body, source="api", received_ms=1_766_241_000_000)
    with pytest.raises(ContractError, match=r"^'time': sensor name"):
        reading_from_flat({"machine_id": 1, "time": 1.0}, source="api", received_ms=0)


def test_a_record_on_the_topic_with_a_reserved_name_is_refused() -> None:
    data = b'{"machine_id": "1", "ts": "2025-12-20T14:30:00.000Z", "values": {"time": 1.0}}'
    with pytest.raises(ContractError, match=r"^'time': sensor name"):
        decode_reading(data)


def test_aggregate_fields_never_take_a_tag_or_flux_column_name() -> None:
    # The API pivots the aggregates' fields into columns beside their tags; a sensor is the
    # value of the ``sensor`` tag there, so a sensor may be named like a statistic.
    assert "sum" in AGGREGATES_FIELDS
    assert set(AGGREGATES_FIELDS).isdisjoint({*AGGREGATES_TAGS, *FLUX_COLUMNS})
    assert all(check_sensor_name(name) == name for name in AGGREGATES_FIELDS)
