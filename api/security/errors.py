"""Errors of the security layer, mapped to HTTP like every :class:`ApiError`."""

from __future__ import annotations

from api.errors import ApiError


class RateLimitedError(ApiError):
    """Too many requests for this credential and route class; retry after the header."""

    status_code = 429

    def __init__(self, detail: str, *, headers: dict[str, str]) -> None:
        super().__init__(detail)
        self._headers = headers

    def headers(self) -> dict[str, str]:
        return dict(self._headers)
