"""A record that is not a JSON object is refused naming the record's kind, by every
decoder built on :func:`contracts.codec.decode_object`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from api.auth.keys import decode_key_record
from api.auth.users import decode_user_record
from contracts.aggregates import decode_aggregate
from contracts.alarms import decode_alarm
from contracts.audit import decode_audit
from contracts.codec import decode_object
from contracts.errors import ContractError
from contracts.readings import decode_reading

DECODERS: list[tuple[Callable[[bytes], Any], str]] = [
    (decode_reading, "reading"),
    (decode_aggregate, "aggregate"),
    (decode_alarm, "alarm"),
    (decode_audit, "audit"),
    (decode_key_record, "api key"),
    (decode_user_record, "user"),
]


def test_an_object_is_returned_as_it_is() -> None:
    assert decode_object(b'{"a": [1, 2]}', "thing") == {"a": [1, 2]}


@pytest.mark.parametrize(("decode", "what"), DECODERS)
def test_records_that_are_not_json_name_their_kind(
    decode: Callable[[bytes], Any], what: str
) -> None:
    with pytest.raises(ContractError, match=rf"^{what}: not valid JSON \("):
        decode(b"{not json")


@pytest.mark.parametrize(("decode", "what"), DECODERS)
@pytest.mark.parametrize("data", [b"[]", b"42", b'"text"', b"null"])
def test_records_that_are_not_objects_name_their_kind(
    decode: Callable[[bytes], Any], what: str, data: bytes
) -> None:
    with pytest.raises(ContractError, match=rf"^{what}: must be a JSON object$"):
        decode(data)


@pytest.mark.parametrize("decode", [decode_key_record, decode_user_record])
def test_a_missing_string_field_is_named(decode: Callable[[bytes], Any]) -> None:
    with pytest.raises(ContractError, match=r"^\w+: required, a string$"):
        decode(b"{}")
