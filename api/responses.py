"""JSON responses rendered with orjson, the fast path for large payloads."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from api.errors import PreconditionFailedError


class OrjsonResponse(JSONResponse):
    """``application/json`` rendered by orjson (non-str keys and numpy-free data only).

    A :class:`JSONResponse` subclass, so FastAPI documents each route's declared
    ``response_model`` in OpenAPI (for other response classes it writes ``string``)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(
    content: Any, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> OrjsonResponse:
    return OrjsonResponse(content, status_code=status_code, headers=headers)


def etag_of(content: Any) -> str:
    """A strong ETag for a JSON body: a hash of its canonical (sorted-keys) rendering."""
    body = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}


def weak_etag_of(content: Any) -> str:
    """A weak ETag (``W/"..."``) for a resource whose body also carries live values:
    ``content`` is the part it versions (its writable fields)."""
    return "W/" + etag_of(content)


def none_match(request: Request, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` (weak or strong) or ``*``."""
    wanted = _etags(request.headers.get("if-none-match"))
    return tag.removeprefix("W/") in wanted or "*" in wanted


def versioned_json(
    content: Any,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    etag: str | None = None,
) -> OrjsonResponse:
    """A written resource as a GET would now show it, with its ``ETag`` (``etag`` when
    given, else the hash of ``content``): the next conditional write needs no GET first."""
    tag = etag if etag is not None else etag_of(content)
    return json_response(content, status_code=status_code, headers={**(headers or {}), "ETag": tag})


def conditional_json(
    request: Request, content: Any, *, headers: dict[str, str] | None = None
) -> Response:
    """``200`` with an ``ETag``, or ``304 Not Modified`` when ``If-None-Match`` matches."""
    tag = etag_of(content)
    out = {**(headers or {}), "ETag": tag}
    wanted = _etags(request.headers.get("if-none-match"))
    if tag in wanted or "*" in wanted:
        return Response(status_code=304, headers=out)
    return json_response(content, headers=out)


def check_if_match(request: Request, current: Any | None) -> None:
    """Raise ``412`` when the request's ``If-Match`` does not name ``current``'s ETag.

    ``current`` is the resource as a GET shows it (``None``: it does not exist). No
    ``If-Match`` header: no check.
    """
    header = request.headers.get("if-match")
    if header is None:
        return
    wanted = _etags(header)
    if current is None:
        raise PreconditionFailedError("If-Match: the resource does not exist")
    if "*" not in wanted and etag_of(current) not in wanted:
        raise PreconditionFailedError(
            "If-Match: the resource has changed; GET it again for its current ETag"
        )
