"""The seed's flat reading as the API accepts it (moved here from the contract tests), and
its bounds: time within InfluxDB's reach and the telemetry retention, sensor count, text."""

from __future__ import annotations

import pytest

from api.flat import INFLUX_MIN_MS, FlatLimits, machine_id_json, reading_from_flat
from api.live.frames import reading_frame
from contracts.errors import ContractError
from contracts.readings import Reading

RECEIVED_MS = 1_766_241_000_000  # 2025-12-20T14:30:00Z


def test_seed_scada_reading_is_accepted_as_written() -> None:
    reading = reading_from_flat(
        {
            "machine_id": 42,
            "timestamp": "2025-12-20T14:30:00Z",
            "temperature_c": 67.5,
            "pressure_bar": 4.8,
            "vibration_mm_s": 3.2,
        },
        source="api:scada",
        received_ms=RECEIVED_MS + 5_000,
    )
    assert reading.machine_id == "42"
    assert reading.ts_ms == RECEIVED_MS
    assert reading.values == {"temperature_c": 67.5, "pressure_bar": 4.8, "vibration_mm_s": 3.2}
    assert reading.quality_of("temperature_c") == "good"


def test_seed_curl_reading_without_timestamp_uses_the_receive_time() -> None:
    reading = reading_from_flat(
        {"machine_id": 42, "temperature_c": 67.5}, source="api", received_ms=RECEIVED_MS
    )
    assert reading.ts_ms == RECEIVED_MS
    assert reading.values == {"temperature_c": 67.5}


def test_nested_sensors_object_is_merged() -> None:
    reading = reading_from_flat(
        {"machine_id": "press-7", "temperature_c": 60, "sensors": {"power_kw": 12.7}},
        source="api",
        received_ms=RECEIVED_MS,
    )
    assert reading.values == {"temperature_c": 60.0, "power_kw": 12.7}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"temperature_c": 1.0}, "machine_id"),
        ({"machine_id": True, "temperature_c": 1.0}, "machine_id"),
        ({"machine_id": "bad id!", "temperature_c": 1.0}, "machine_id"),
        ({"machine_id": 42}, "carries no sensor value"),
        ({"machine_id": 42, "temperature_c": "hot"}, "temperature_c"),
        ({"machine_id": 42, "temperature_c": None}, "temperature_c"),
        ({"machine_id": 42, "Temperature": 1.0}, "Temperature"),
        ({"machine_id": 42, "temperature_c": 1.0, "timestamp": "yesterday"}, "timestamp"),
        ({"machine_id": 42, "temperature_c": 1.0, "quality": {"power_kw": "bad"}}, "quality"),
        ({"machine_id": 42, "temperature_c": 1.0, "quality": {"temperature_c": "meh"}}, "quality"),
    ],
)
def test_bad_readings_are_refused_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ContractError, match=field):
        reading_from_flat(body, source="api", received_ms=RECEIVED_MS)


def test_flat_frame_matches_the_seed_client() -> None:
    reading = Reading(machine_id="42", ts_ms=RECEIVED_MS, values={"temperature_c": 68.1})
    frame = reading_frame(reading)
    assert frame["type"] == "reading"
    assert frame["machine_id"] == 42
    assert frame["temperature_c"] == 68.1


def test_machine_ids_keep_their_json_type() -> None:
    assert machine_id_json("42") == 42
    assert machine_id_json("0") == 0
    assert machine_id_json("0042") == "0042"
    assert machine_id_json("00") == "00"
    assert machine_id_json("press-7") == "press-7"


@pytest.mark.parametrize(
    "timestamp",
    [
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59+14:00",
        "1677-09-21T00:00:00Z",  # before the earliest time InfluxDB stores
        "0001-01-01T00:00:00+01:00",
        "2025-12-20T16:00:00Z",  # more than an hour ahead
    ],
)
def test_timestamps_outside_the_accepted_range_name_the_field(timestamp: str) -> None:
    with pytest.raises(ContractError, match=r"^timestamp: "):
        reading_from_flat(
            {"machine_id": 42, "temperature_c": 1.0, "timestamp": timestamp},
            source="api",
            received_ms=RECEIVED_MS,
        )


def test_history_of_any_age_is_accepted_when_the_telemetry_bucket_keeps_forever() -> None:
    for ts, ms in (
        ("2015-06-01T00:00:00Z", 1_433_116_800_000),
        ("1677-09-21T00:12:43.146Z", INFLUX_MIN_MS),
    ):
        reading = reading_from_flat(
            {"machine_id": 42, "temperature_c": 1.0, "timestamp": ts},
            source="api",
            received_ms=RECEIVED_MS,
        )
        assert reading.ts_ms == ms


def test_older_than_the_retention_is_refused_naming_the_setting() -> None:
    limits = FlatLimits(max_age_s=30 * 86_400)
    with pytest.raises(ContractError) as refused:
        reading_from_flat(
            {"machine_id": 42, "temperature_c": 1.0, "timestamp": "2025-11-01T00:00:00Z"},
            source="api",
            received_ms=RECEIVED_MS,
            limits=limits,
        )
    detail = str(refused.value)
    assert detail.startswith("timestamp: ")
    assert "MILLSTREAM_INFLUX_RETENTION_DAYS=30 days" in detail
    assert "from 2025-11-20T14:30:00.000Z on" in detail


def test_more_than_max_future_ahead_names_its_setting() -> None:
    with pytest.raises(ContractError, match="MILLSTREAM_API_READING_MAX_FUTURE_S"):
        reading_from_flat(
            {"machine_id": 42, "temperature_c": 1.0, "timestamp": "2025-12-20T16:00:00Z"},
            source="api",
            received_ms=RECEIVED_MS,
        )


def test_timestamp_at_the_edges_of_the_range_is_accepted() -> None:
    limits = FlatLimits(max_age_s=86_400, max_future_s=60)
    for ts, ms in (
        ("2025-12-19T14:30:00Z", RECEIVED_MS - 86_400_000),
        ("2025-12-20T14:31:00Z", RECEIVED_MS + 60_000),
    ):
        reading = reading_from_flat(
            {"machine_id": 1, "t": 1.0, "timestamp": ts},
            source="api",
            received_ms=RECEIVED_MS,
            limits=limits,
        )
        assert reading.ts_ms == ms


def test_sensor_count_and_text_lengths_are_bounded() -> None:
    limits = FlatLimits(max_sensors=3, max_text=5)
    many = {"machine_id": 1, **{f"s{i}": 1.0 for i in range(4)}}
    with pytest.raises(ContractError, match="more than 3 sensor values"):
        reading_from_flat(many, source="api", received_ms=RECEIVED_MS, limits=limits)
    with pytest.raises(ContractError, match=r"^plant: at most 5"):
        reading_from_flat(
            {"machine_id": 1, "t": 1.0, "plant": "hall-b-north"},
            source="api",
            received_ms=RECEIVED_MS,
            limits=limits,
        )
    with pytest.raises(ContractError, match=r"^t: sensor value is out of range"):
        reading_from_flat({"machine_id": 1, "t": 10**400}, source="api", received_ms=RECEIVED_MS)


def test_sensor_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ContractError, match="sensor names"):
        reading_from_flat({"machine_id": 1, "t\n": 1.0}, source="api", received_ms=RECEIVED_MS)
    with pytest.raises(ContractError, match="machine_id"):
        reading_from_flat({"machine_id": "42\n", "t": 1.0}, source="api", received_ms=RECEIVED_MS)
