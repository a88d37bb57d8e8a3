"""JSON responses rendered with orjson, the fast path for large payloads."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


class OrjsonResponse(Response):
    """``application/json`` rendered by orjson (non-str keys and numpy-free data only)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(
    content: Any, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> OrjsonResponse:
    return OrjsonResponse(content, status_code=status_code, headers=headers)
