"""Decoding topic records (JSON objects, pydantic models) into :class:`ContractError` naming
the field."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from contracts.errors import ContractError

M = TypeVar("M", bound=BaseModel)


def validation_message(exc: ValidationError, what: str) -> str:
    """``"limits.high.value: Input should be a valid number"`` from a pydantic error."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or what
    return f"{where}: {first['msg']}"


def decode_object(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON record value that must be an object; raise :class:`ContractError`
    (``"<what>: not valid JSON (...)"``, ``"<what>: must be a JSON object"``) if it is not."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"{what}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise ContractError(f"{what}: must be a JSON object")
    return obj


def decode_model(cls: type[M], data: bytes, what: str) -> M:
    """Decode a JSON record value into ``cls``; raise :class:`ContractError` if it is invalid."""
    try:
        obj: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"{what}: not valid JSON ({exc})") from exc
    return validate_model(cls, obj, what)


def validate_model(cls: type[M], obj: Any, what: str) -> M:
    """Validate an already-parsed object into ``cls``; raise :class:`ContractError`."""
    try:
        return cls.model_validate(obj)
    except ValidationError as exc:
        raise ContractError(validation_message(exc, what)) from exc


def encode_model(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))
