"""The reading contract: the seed's flat shape in, the topic's wire format out and back."""

from __future__ import annotations

import orjson
import pytest

from contracts.errors import ContractError
from contracts.readings import Reading, decode_reading, machine_id_json, reading_from_flat
from contracts.timefmt import format_ts, parse_ts

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
        received_ms=0,
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


def test_wire_format_round_trips() -> None:
    original = Reading(
        machine_id="42",
        ts_ms=RECEIVED_MS + 123,
        values={"temperature_c": 86.25},
        quality={"temperature_c": "uncertain"},
        seq=9,
        source="modbus://127.0.0.1:5020/1",
        plant="Hall B",
        line="Line 3",
    )
    wire = orjson.loads(original.encode())
    assert wire["ts"] == "2025-12-20T14:30:00.123Z"
    assert decode_reading(original.encode()) == original
    assert original.key() == b"42"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"machine_id": "42", "ts": "2025-12-20T14:30:00Z"}', "values"),
        (b'{"values": {"temperature_c": 1}, "ts": "2025-12-20T14:30:00Z"}', "machine_id"),
        (b'{"machine_id": "42", "values": {"temperature_c": 1}}', "ts"),
        (
            b'{"machine_id": "42", "ts": "2025-12-20T14:30:00Z", "values": {"t_c": 1},'
            b' "quality": {"t_c": ["good"]}}',
            "quality.t_c",
        ),
    ],
)
def test_malformed_records_raise_contract_errors(data: bytes, field: str) -> None:
    with pytest.raises(ContractError, match=field):
        decode_reading(data)


def test_flat_frame_matches_the_seed_client() -> None:
    reading = Reading(machine_id="42", ts_ms=RECEIVED_MS, values={"temperature_c": 68.1})
    frame = reading.flat_frame()
    assert frame["type"] == "reading"
    assert frame["machine_id"] == 42
    assert frame["temperature_c"] == 68.1


def test_machine_ids_keep_their_json_type() -> None:
    assert machine_id_json("42") == 42
    assert machine_id_json("press-7") == "press-7"


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert format_ts(RECEIVED_MS + 7) == "2025-12-20T14:30:00.007Z"
    assert parse_ts("2025-12-20T15:30:00.007+01:00") == RECEIVED_MS + 7
    assert parse_ts("2025-12-20T14:30:00") == RECEIVED_MS
