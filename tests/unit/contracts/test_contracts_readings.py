"""The reading contract: the seed's flat shape in, the topic's wire format out and back."""

from __future__ import annotations

import orjson
import pytest

from contracts.errors import ContractError
from contracts.readings import Reading, decode_reading
from contracts.timefmt import format_ts, parse_ts

RECEIVED_MS = 1_766_241_000_000  # 2025-12-20T14:30:00Z


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


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert format_ts(RECEIVED_MS + 7) == "2025-12-20T14:30:00.007Z"
    assert parse_ts("2025-12-20T15:30:00.007+01:00") == RECEIVED_MS + 7
    assert parse_ts("2025-12-20T14:30:00") == RECEIVED_MS


def test_texts_travel_and_are_left_out_when_empty() -> None:
    plain = Reading(machine_id="42", ts_ms=1_000, values={"temperature_c": 1.0})
    assert "texts" not in plain.to_dict()
    texts = Reading(
        machine_id="42",
        ts_ms=1_000,
        values={},
        texts={"recipe": "P-17"},
        quality={"recipe": "bad"},
    )
    assert decode_reading(texts.encode()) == texts


@pytest.mark.parametrize(
    ("texts", "values", "reason"),
    [
        ({"Recipe": "x"}, {"a": 1.0}, "texts.'Recipe': sensor names are"),
        ({"recipe": 7}, {"a": 1.0}, "texts.recipe: must be a string, got int"),
        ({"recipe": "x" * 257}, {"a": 1.0}, "texts.recipe: longer than 256 characters"),
        ({"recipe": "a\nb"}, {"a": 1.0}, "texts.recipe: must be printable text"),
        ({"a": "x"}, {"a": 1.0}, "texts.a: also a number in values"),
        ([], {"a": 1.0}, "texts: must be an object"),
    ],
)
def test_bad_texts_are_refused_naming_the_field(texts, values, reason) -> None:
    body = {"machine_id": "42", "ts": "2025-12-20T14:30:00.000Z", "values": values}
    body["texts"] = texts
    with pytest.raises(ContractError) as refused:
        decode_reading(orjson.dumps(body))
    assert str(refused.value).startswith(reason)


def test_a_reading_needs_a_value_or_a_text() -> None:
    body = {"machine_id": "42", "ts": "2025-12-20T14:30:00.000Z", "values": {}}
    with pytest.raises(ContractError, match="values: required"):
        decode_reading(orjson.dumps(body))


def _wire(values: dict[str, object], quality: dict[str, object] | None = None) -> bytes:
    reading = {"machine_id": "42", "ts": "2026-01-05T10:00:00.000Z", "values": values}
    if quality is not None:
        reading["quality"] = quality
    return orjson.dumps(reading)


@pytest.mark.parametrize(
    ("values", "quality", "field"),
    [
        ({"a_c": 1.0, "b_c": True}, None, "b_c"),
        ({"a_c": 1.0, "b_c": "7"}, None, "b_c"),
        ({"a_c": 1.0, "b_c": [1]}, None, "b_c"),
        ({"a_c": 1.0, "b_c": 2}, {"b_c": "fine"}, "quality.b_c"),
        ({"a_c": 1.0, "b_c": 2}, {"b_c": ["good"]}, "quality.b_c"),
        ({"a_c": 1.0, "b_c": 2}, {"c_c": "good"}, "quality.c_c"),
    ],
)
def test_names_seen_before_still_have_their_values_and_qualities_checked(
    values: dict[str, object], quality: dict[str, object] | None, field: str
) -> None:
    # The names of a machine are checked once; every value and quality still is.
    seen = decode_reading(_wire({"a_c": 1.0, "b_c": 2}, {"a_c": "good", "b_c": "bad"}))
    assert seen.values == {"a_c": 1.0, "b_c": 2.0}
    assert type(seen.values["b_c"]) is float
    assert seen.quality == {"a_c": "good", "b_c": "bad"}
    with pytest.raises(ContractError, match=field):
        decode_reading(_wire(values, quality))
