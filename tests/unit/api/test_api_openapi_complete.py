"""The OpenAPI document states what the API checks: the byte limit, the patterns of every
id, name and time, the reserved sensor names, and links from each write to what it wrote."""

import re

import pytest

from api.app import create_app
from api.settings import ApiSettings
from contracts.patterns import RESERVED_SENSOR_NAMES, SENSOR_NAME_PATTERN


@pytest.fixture(scope="module")
def schema():
    return create_app(ApiSettings()).openapi()


def _param(schema, path, method, name):
    [found] = [p for p in schema["paths"][path][method]["parameters"] if p["name"] == name]
    return found["schema"]


def test_every_operation_with_a_body_declares_413(schema):
    with_body = [
        (path, method)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(with_body) > 20
    missing = [pm for pm in with_body if "413" not in schema["paths"][pm[0]][pm[1]]["responses"]]
    assert missing == []


def test_every_machine_id_schedule_id_and_time_shows_its_pattern(schema):
    without = [
        (path, method, parameter["name"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        for parameter in operation.get("parameters", [])
        if parameter["name"] in ("machine_id", "schedule_id", "sensor", "start", "stop")
        and parameter["in"] == "path"
        and "pattern" not in parameter["schema"]
    ]
    assert without == []
    readings = _param(schema, "/api/machines/{machine_id}/readings", "get", "machine_id")
    assert re.fullmatch(readings["pattern"].strip("^$"), "press-7")
    everyone = _param(schema, "/api/machines/{machine_id}/thresholds", "get", "machine_id")
    assert re.search(everyone["pattern"], "*")
    start = _param(schema, "/api/audit", "get", "start")["pattern"]
    for good in ("now", "-1h", "-30m", "2025-12-20T14:30:00Z", "2025-12-20T14:30:00+01:00"):
        assert re.search(start, good), good
    for bad in ("", "yesterday", "2025-12-20", "-1y"):
        assert not re.search(start, bad), bad


def test_choices_of_state_and_severity_are_listed(schema):
    state = _param(schema, "/api/alarms", "get", "state")["anyOf"][0]
    assert state["items"]["enum"] == sorted(state["items"]["enum"])
    assert "shelved" in state["items"]["enum"]
    severity = _param(schema, "/api/alarms/journal", "get", "severity")["anyOf"][0]
    assert re.search(severity["pattern"], "high,critical")
    assert not re.search(severity["pattern"], "urgent")


def test_sensor_named_keys_refuse_the_reserved_names(schema):
    thresholds = schema["components"]["schemas"]["MachineThresholdsBody"]
    names = thresholds["properties"]["sensors"]["propertyNames"]
    assert names["pattern"] == SENSOR_NAME_PATTERN
    reserved, suffix = names["not"]["anyOf"]
    assert set(reserved["enum"]) == RESERVED_SENSOR_NAMES
    assert re.search(suffix["pattern"], "temperature_c_quality")
    thresholds = schema["components"]["schemas"]["MachineThresholdsBody"]
    assert thresholds["properties"]["sensors"]["propertyNames"]["pattern"] == SENSOR_NAME_PATTERN
    assert thresholds["additionalProperties"] is False


def test_creates_and_writes_link_to_what_they_wrote(schema):
    paths = schema["paths"]
    created = paths["/api/machines"]["post"]["responses"]["201"]["links"]
    by_target = {link["operationId"]: link["parameters"] for link in created.values()}
    item = paths["/api/machines/{machine_id}"]
    from_body = {"machine_id": "$response.body#/machine_id"}
    for method in ("get", "put", "patch", "delete"):
        assert by_target[item[method]["operationId"]] == from_body
    schedule = paths["/api/machines/{machine_id}/maintenance"]["post"]["responses"]["201"]
    one = paths["/api/machines/{machine_id}/maintenance/{schedule_id}"]["get"]["operationId"]
    assert schedule["links"][one]["parameters"] == {
        "machine_id": "$request.path.machine_id",
        "schedule_id": "$response.body#/schedule_id",
    }
    for path in ("/api/users", "/api/keys"):
        assert paths[path]["post"]["responses"]["201"]["links"], path
    operation_ids = {op["operationId"] for item in paths.values() for op in item.values()}
    targets = {
        link["operationId"]
        for item in paths.values()
        for op in item.values()
        for answer in op["responses"].values()
        for link in answer.get("links", {}).values()
    }
    assert targets <= operation_ids


@pytest.mark.parametrize(
    "path", ["/api/machines/{machine_id}/readings", "/api/machines/{machine_id}/aggregates"]
)
def test_the_history_limits_show_the_configured_bounds(path: str):
    settings = ApiSettings(readings_max_limit=5_000, readings_default_limit=1_000)
    schema = create_app(settings).openapi()
    limit = _param(schema, path, "get", "limit")["anyOf"][0]
    assert (limit["minimum"], limit["maximum"]) == (1, 5_000)
