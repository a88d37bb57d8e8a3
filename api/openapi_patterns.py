"""The patterns and choices the API checks, shown in OpenAPI where FastAPI leaves them out.

Parameters and body fields are named the same everywhere (``schedule_id``, ``sensor``,
``start``, ``username``, ...), so each name's pattern is written once, here, and added to
every parameter and request-body property of that name that shows none: a client (or a
generator of test requests) that follows the document is not refused for a value's form.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from api.auth.users import USERNAME
from api.history.params import AGGREGATE_FUNCTIONS
from contracts.alarms import AlarmState, Severity
from contracts.maintenance import SCHEDULE_ID_RE
from contracts.patterns import (
    MACHINE_ID_PATTERN,
    RESERVED_SENSOR_NAMES,
    RESERVED_SENSOR_SUFFIXES,
    SENSOR_NAME_PATTERN,
    SENSOR_NAME_RE,
)

# ``now``, a relative time within 99 units before now, or an RFC 3339 time (api.history.params).
TIME_PATTERN = (
    r"^(?:now|-[1-9][0-9]?(?:s|m|h|d)"
    r"|20[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3])"
    r":[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-2]):00))$"
)
_STRING_PATTERNS = {
    "machine_id": MACHINE_ID_PATTERN,
    "schedule_id": f"^{SCHEDULE_ID_RE.pattern}$",
    "sensor": SENSOR_NAME_PATTERN,
    "target": SENSOR_NAME_PATTERN,
    "username": f"^{USERNAME.pattern}$",
    "fields": f"^{SENSOR_NAME_RE.pattern}(?:,{SENSOR_NAME_RE.pattern})*$",
    # A window both as a duration (readings) and as a label (aggregates): 1m, 15m, 1h.
    "window": "^[1-9][0-9]?(?:m|h)$",
    "sensors": f"^{SENSOR_NAME_RE.pattern}(?:,{SENSOR_NAME_RE.pattern})*$",
    "start": TIME_PATTERN,
    "stop": TIME_PATTERN,
}
_CHOICES = {
    "state": sorted(get_args(AlarmState)),
    "severity": sorted(get_args(Severity)),
}
_ENUMS = {"fn": sorted(AGGREGATE_FUNCTIONS)}
# Objects keyed by sensor name.
_SENSOR_KEYED = ("sensors", "sensor_info", "primary_sensors")


def _branches(node: dict[str, Any]) -> list[dict[str, Any]]:
    """``node`` and every schema of its (nested) ``anyOf``."""
    out = [node]
    for branch in node.get("anyOf", []):
        out += _branches(branch)
    return out


def _complete(name: str, node: dict[str, Any]) -> None:
    for branch in _branches(node):
        kind = branch.get("type")
        pattern = _STRING_PATTERNS.get(name)
        if kind == "string" and pattern and not {"pattern", "enum", "format"} & set(branch):
            branch["pattern"] = pattern
        if kind == "integer" and name == "machine_id":
            branch.setdefault("minimum", 0)
            branch.setdefault("maximum", 2**53)
        one_of = _ENUMS.get(name)
        if kind == "string" and one_of and "enum" not in branch:
            branch["enum"] = one_of
        choices = _CHOICES.get(name)
        if kind == "array" and choices and "enum" not in branch.get("items", {}):
            branch["items"] = {"type": "string", "enum": choices}
        if kind == "string" and choices and "pattern" not in branch:
            one = "|".join(choices)
            branch["pattern"] = f"^(?:{one})(?:,(?:{one}))*$"
        _no_reserved(branch.get("propertyNames"))
        keys = branch.get("patternProperties", {})
        names = branch.get("propertyNames")
        if len(keys) == 1 and isinstance(names, dict) and "pattern" not in names:
            names["pattern"] = next(iter(keys))
            branch.setdefault("additionalProperties", False)
        if kind == "object" and name in _SENSOR_KEYED and "propertyNames" not in branch:
            branch["propertyNames"] = {"pattern": SENSOR_NAME_PATTERN}


def _no_reserved(names: Any) -> None:
    """Sensor-named keys: none of the reserved names, none ending in a reserved suffix."""
    if not isinstance(names, dict) or names.get("pattern") != SENSOR_NAME_PATTERN:
        return
    suffixes = "|".join(re.escape(s) for s in RESERVED_SENSOR_SUFFIXES)
    names.setdefault(
        "not",
        {"anyOf": [{"enum": sorted(RESERVED_SENSOR_NAMES)}, {"pattern": f"(?:{suffixes})$"}]},
    )


def _walk(node: Any) -> None:
    """Every ``propertyNames`` of sensor names inside ``node`` refuses the reserved ones."""
    if isinstance(node, dict):
        _no_reserved(node.get("propertyNames"))
        for value in node.values():
            _walk(value)
    elif isinstance(node, list):
        for value in node:
            _walk(value)


# A merge patch whose per-sensor objects are free-form in the model: they take the fields
# of the whole (all optional), and no others.
_PATCH_OF = {"MachineThresholdsPatch": "ThresholdsBody"}
# Operations whose body is such a merge patch, free-form in the route.
_MERGE_PATCHES = {("/api/machines/{machine_id}/thresholds/{sensor}", "patch"): "ThresholdsBody"}


def _patch_fields(patch: dict[str, Any] | None, whole: dict[str, Any] | None) -> None:
    if patch is None or whole is None:
        return
    sensors = patch.get("properties", {}).get("sensors", {})
    for value in sensors.get("patternProperties", {}).values():
        for branch in _branches(value):
            if branch.get("type") == "object" and "properties" not in branch:
                branch["properties"] = whole.get("properties", {})
                branch["additionalProperties"] = False


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        found = {ref.rsplit("/", 1)[1]} if ref.startswith("#/components/schemas/") else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _request_models(schema: dict[str, Any]) -> set[str]:
    """Names of the component schemas request bodies use, nested ones too."""
    components = schema.get("components", {}).get("schemas", {})
    todo = set()
    for item in schema["paths"].values():
        for operation in item.values():
            todo |= _refs(operation.get("requestBody", {}))
    names: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in names and name in components:
            names.add(name)
            todo |= _refs(components[name])
    return names


def _limit(node: dict[str, Any], max_limit: int) -> None:
    """A ``limit`` takes the readings' bounds (1 to ``max_limit``) where it states none."""
    for branch in _branches(node):
        if branch.get("type") == "integer":
            branch.setdefault("minimum", 1)
            branch.setdefault("maximum", max_limit)


def add_patterns(schema: dict[str, Any], *, max_limit: int) -> None:
    """Complete ``schema`` (an OpenAPI document) in place, as the module says; a request
    body's objects also say that they take no other fields (the API refuses them).
    ``max_limit``: the most points a history query returns."""
    for item in schema["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("path", "query"):
                    _complete(parameter["name"], parameter.setdefault("schema", {}))
                if parameter["name"] == "limit":
                    _limit(parameter.setdefault("schema", {}), max_limit)
    components = schema.get("components", {}).get("schemas", {})
    for patch, whole in _PATCH_OF.items():
        _patch_fields(components.get(patch), components.get(whole))
    for (path, method), whole in _MERGE_PATCHES.items():
        body = schema["paths"].get(path, {}).get(method, {}).get("requestBody", {})
        free = body.get("content", {}).get("application/json", {}).get("schema", {})
        if free.get("type") == "object" and "properties" not in free and whole in components:
            free["properties"] = components[whole].get("properties", {})
            free["additionalProperties"] = False
    for name in _request_models(schema):
        model = components[name]
        if model.get("type") == "object" and model.get("additionalProperties", True) is True:
            model["additionalProperties"] = False
        for field, node in model.get("properties", {}).items():
            _complete(field, node)
        _walk(model)
