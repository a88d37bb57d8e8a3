"""A topic record that is not a JSON object is refused naming the record's kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

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
