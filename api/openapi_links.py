"""OpenAPI links: what a client can do next with what an answer named.

A create (``201``) or a write (``200`` of ``PUT``/``PATCH``) links to every operation on the
resource it wrote and beneath it, each path parameter taken from the request's own path or
from the answer's body: ``POST /api/machines`` leads to ``GET``, ``PUT``, ``PATCH`` and
``DELETE /api/machines/{machine_id}`` and to the machine's thresholds and maintenance.
Clients (and schemathesis's stateful phase) follow them.
"""

from __future__ import annotations

import re
from typing import Any

_PARAM = re.compile(r"\{([^}]+)\}")
_SOURCES = {("post", "201"), ("put", "200"), ("patch", "200")}
_METHODS = ("get", "put", "patch", "post", "delete")


def _body_fields(schema: dict[str, Any], response: dict[str, Any]) -> set[str]:
    content = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = content.get("$ref", "")
    if not ref.startswith("#/components/schemas/"):
        return set()
    model = schema["components"]["schemas"].get(ref.rsplit("/", 1)[1], {})
    return set(model.get("properties", {}))


def _link(
    source_path: str, fields: set[str], target_path: str, target: dict[str, Any]
) -> dict[str, Any] | None:
    """The link to ``target``, or ``None`` when a parameter of its path has no source."""
    own = set(_PARAM.findall(source_path))
    parameters: dict[str, str] = {}
    for name in _PARAM.findall(target_path):
        if name in own:
            parameters[name] = f"$request.path.{name}"
        elif name in fields:
            parameters[name] = f"$response.body#/{name}"
        else:
            return None
    if not parameters:
        return None
    return {"operationId": target["operationId"], "parameters": parameters}


def add_links(schema: dict[str, Any]) -> None:
    """Add the links described above to ``schema`` (an OpenAPI document), in place."""
    paths: dict[str, dict[str, Any]] = schema["paths"]
    for source_path, operations in paths.items():
        for method, operation in operations.items():
            for status in ("200", "201"):
                response = operation.get("responses", {}).get(status)
                if (method, status) not in _SOURCES or response is None:
                    continue
                fields = _body_fields(schema, response)
                links: dict[str, Any] = {}
                for target_path, targets in paths.items():
                    if not f"{target_path}/".startswith(f"{source_path}/"):
                        continue
                    for target_method in _METHODS:
                        target = targets.get(target_method)
                        if target is None or "operationId" not in target:
                            continue
                        if (target_path, target_method) == (source_path, method):
                            continue
                        link = _link(source_path, fields, target_path, target)
                        if link is not None:
                            links[target["operationId"]] = link
                if links:
                    response["links"] = links
