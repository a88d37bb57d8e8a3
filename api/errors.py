"""Errors the API raises on purpose, each carrying the HTTP status it maps to.

Domain code raises these without knowing about FastAPI; :mod:`api.handlers` turns them
into ``{"detail": ...}`` JSON responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.errors import MillstreamError


class ApiError(MillstreamError):
    """Root of the API's errors; ``str(error)`` is the ``detail`` the client sees."""

    status_code = 500

    def headers(self) -> dict[str, str]:
        return {}


class BadRequestError(ApiError):
    """The request cannot be read at all (a body that is not JSON)."""

    status_code = 400


class InvalidInputError(ApiError):
    """A parameter or field is wrong; the text starts with its name (``fields: ...``)."""

    status_code = 422


class NotFoundError(ApiError):
    status_code = 404


class ConflictError(ApiError):
    """The resource already exists, or its state does not allow the request."""

    status_code = 409


class PreconditionFailedError(ApiError):
    """``If-Match`` names a version that is no longer current."""

    status_code = 412


class AuthenticationError(ApiError):
    """No credential, or one that matches no key."""

    status_code = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'ApiKey header="X-API-Key", Bearer realm="millstream"'}


class PermissionDeniedError(ApiError):
    """The credential is valid but its role is not enough."""

    status_code = 403


class UnavailableError(ApiError):
    """A backing service (Kafka, InfluxDB) does not answer; the client should retry."""

    status_code = 503

    def __init__(self, detail: str, *, retry_after_s: int = 5) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class BrokerUnavailableError(UnavailableError):
    """Kafka did not acknowledge in time or cannot be reached."""


class HistoryUnavailableError(UnavailableError):
    """InfluxDB did not answer a query."""


class StartupError(MillstreamError):
    """The API cannot start: a topic is missing, a server does not answer in time."""


def validation_detail(errors: Sequence[Any]) -> str:
    """``[{"loc": ("query", "limit"), "msg": "..."}]`` -> ``"limit: ..."``, one per error."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("query", "path", "header"):
            loc = loc[1:]  # where it was sent; a parameter may itself be named ``path``
        where = ".".join(loc) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "request: invalid"
