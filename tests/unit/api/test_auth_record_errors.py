"""An API key or user record that is not a JSON object is refused naming the record's kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from api.auth.keys import decode_key_record
from api.auth.users import decode_user_record
from contracts.errors import ContractError

DECODERS: list[tuple[Callable[[bytes], Any], str]] = [
    (decode_key_record, "api key"),
    (decode_user_record, "user"),
]


@pytest.mark.parametrize(("decode", "what"), DECODERS)
def test_records_that_are_not_json_name_their_kind(
    decode: Callable[[bytes], Any], what: str
) -> None:
    with pytest.raises(ContractError, match=rf"^{what}: not valid JSON \("):
        decode(b"{not json")


@pytest.mark.parametrize(("decode", "what"), DECODERS)
@pytest.mark.parametrize("data", [b"[]", b"42", b"null"])
def test_records_that_are_not_objects_name_their_kind(
    decode: Callable[[bytes], Any], what: str, data: bytes
) -> None:
    with pytest.raises(ContractError, match=rf"^{what}: must be a JSON object$"):
        decode(data)


@pytest.mark.parametrize("decode", [decode_key_record, decode_user_record])
def test_a_missing_string_field_is_named(decode: Callable[[bytes], Any]) -> None:
    with pytest.raises(ContractError, match=r"^\w+: required, a string$"):
        decode(b"{}")
