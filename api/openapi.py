"""The OpenAPI document says what the app answers: every error body is ``{"detail": ...}``,
each operation lists the 400, 401, 403, 413 and 429 it can send besides its own answers,
every machine id in a path shows its pattern, and writes link to what they wrote."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from api.authfirst import route_needs
from api.openapi_links import add_links
from api.openapi_patterns import add_patterns
from api.security.ratelimit import LOGIN_PATH
from contracts.patterns import MACHINE_ID_RE
from contracts.thresholds import ALL_MACHINES

# Every error body, as OpenAPI documents it (FastAPI's default 422 schema is a list).
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "string"}},
    "required": ["detail"],
}
_ERROR_REF = {"$ref": "#/components/schemas/HTTPValidationError"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _common_errors(
    dependant: Dependant, path: str, operation: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    needs, role = route_needs(dependant)
    errors: dict[str, dict[str, Any]] = {}
    if "requestBody" in operation:
        errors["400"] = _error("The body could not be read")
        errors["413"] = _error("The body is larger than the API's byte limit")
    if needs:
        errors["401"] = _error("No credential, or not a valid API key or login token")
        errors["429"] = _error("Rate limit reached; retry after Retry-After seconds")
    if role is not None:
        errors["403"] = _error(f"The credential's role is below {role.value}")
    if path == LOGIN_PATH:
        errors["429"] = _error("Too many login attempts; retry after Retry-After seconds")
    return errors


def _machine_id_patterns(path: str, operation: dict[str, Any]) -> None:
    """A ``machine_id`` path parameter without a pattern gets the one pattern (thresholds:
    or ``*``, the default of every machine)."""
    for parameter in operation.get("parameters", []):
        shown = parameter.setdefault("schema", {})
        if parameter.get("in") != "path" or parameter["name"] != "machine_id" or "pattern" in shown:
            continue
        either = f"{re.escape(ALL_MACHINES)}|" if path.startswith(_THRESHOLDS) else ""
        shown["pattern"] = f"^(?:{either}{MACHINE_ID_RE.pattern})$"
        shown.setdefault("maxLength", 64)


_THRESHOLDS = "/api/machines/{machine_id}/thresholds"


def install_openapi(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the document it builds once is completed as above."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["HTTPValidationError"] = dict(ERROR_SCHEMA)
        schemas.pop("ValidationError", None)
        for context in iter_route_contexts(app.routes):
            route, path = context.original_route, context.path_format
            if not isinstance(route, APIRoute) or path is None:
                continue
            for method in context.methods or ():
                operation = schema["paths"].get(path, {}).get(method.lower())
                if operation is None:
                    continue
                _machine_id_patterns(path, operation)
                responses = operation.setdefault("responses", {})
                for status, answer in _common_errors(route.dependant, path, operation).items():
                    responses.setdefault(status, answer)
        add_patterns(schema, max_limit=app.state.settings.readings_max_limit)
        add_links(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
