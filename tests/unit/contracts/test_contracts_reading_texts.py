"""Text-valued tags on a reading: the optional ``texts`` map, its wire key and validation."""

from __future__ import annotations

import orjson
import pytest

from contracts.errors import ContractError
from contracts.readings import MAX_TEXT_CHARS, Reading, decode_reading

T0 = 1_766_241_000_000


def wire(**extra: object) -> bytes:
    obj: dict[str, object] = {
        "machine_id": "42",
        "ts": "2025-12-20T14:30:00Z",
        "values": {"temperature_c": 60.0},
    }
    obj.update(extra)
    return orjson.dumps(obj)


def test_texts_round_trip_and_quality_may_name_a_text() -> None:
    original = Reading(
        machine_id="42",
        ts_ms=T0,
        values={"temperature_c": 60.0},
        quality={"recipe": "bad"},
        texts={"recipe": 'PA6-GF30 "blue" \\ é'},
    )
    assert orjson.loads(original.encode())["texts"] == {"recipe": 'PA6-GF30 "blue" \\ é'}
    assert decode_reading(original.encode()) == original


def test_empty_texts_are_omitted_from_the_wire() -> None:
    r = Reading(machine_id="42", ts_ms=T0, values={"temperature_c": 60.0})
    assert "texts" not in orjson.loads(r.encode())
    assert decode_reading(r.encode()).texts == {}


def test_a_reading_may_carry_only_texts() -> None:
    r = decode_reading(wire(values={}, texts={"batch_id": "B-17"}))
    assert r.values == {} and r.texts == {"batch_id": "B-17"}


def test_empty_values_and_empty_texts_are_refused() -> None:
    with pytest.raises(ContractError, match=r"^values"):
        decode_reading(wire(values={}, texts={}))


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ("PA6", "^texts: must be an object"),
        ({"Recipe": "x"}, r"^texts\.'Recipe': sensor names"),
        ({"recipe\n": "x"}, r"^texts\.'recipe\\n': sensor names"),
        ({"recipe": 5}, "^texts.recipe: must be a string, got int"),
        ({"recipe": "x" * (MAX_TEXT_CHARS + 1)}, "^texts.recipe: longer than 256"),
        ({"recipe": "a\nb"}, "^texts.recipe: must be printable"),
        ({"recipe": "a\x00"}, "^texts.recipe: must be printable"),
        ({"temperature_c": "hot"}, "^texts.temperature_c: also a number in values"),
    ],
)
def test_invalid_texts_name_the_field(texts: object, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        decode_reading(wire(texts=texts))


def test_longest_text_is_accepted() -> None:
    assert decode_reading(wire(texts={"recipe": "x" * MAX_TEXT_CHARS})).texts["recipe"]


def test_quality_naming_neither_value_nor_text_is_refused() -> None:
    with pytest.raises(ContractError, match=r"^quality\.batch_id"):
        decode_reading(wire(texts={"recipe": "x"}, quality={"batch_id": "bad"}))
