"""Exception handlers: every 4xx and 5xx body is ``{"detail": ...}`` JSON."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.authfirst import credential_error
from api.errors import ApiError, validation_detail
from api.openapi import install_openapi
from api.responses import json_response

logger = logging.getLogger(__name__)


async def _api_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):
        raise RuntimeError("expected isinstance(exc, ApiError)")
    if exc.status_code >= 500:
        logger.warning(
            "request failed path=%s status=%d detail=%s", request.url.path, exc.status_code, exc
        )
    return json_response({"detail": str(exc)}, status_code=exc.status_code, headers=exc.headers())


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):
        raise RuntimeError("expected isinstance(exc, RequestValidationError)")
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        refused = await credential_error(request)
        if refused is not None:
            return await _api_error(request, refused)
    return json_response({"detail": validation_detail(exc.errors())}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):
        raise RuntimeError("expected isinstance(exc, StarletteHTTPException)")
    return json_response(
        {"detail": exc.detail}, status_code=exc.status_code, headers=dict(exc.headers or {})
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error path=%s method=%s", request.url.path, request.method)
    return json_response({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    install_openapi(app)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
