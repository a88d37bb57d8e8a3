"""``/docs`` shows both credentials, and every protected operation names them."""

from api.app import create_app
from api.settings import ApiSettings


def test_security_schemes_are_documented():
    schema = create_app(ApiSettings()).openapi()

    schemes = schema["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key (role operator, engineer or admin).",
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    users = schema["paths"]["/api/users"]["get"]
    assert {"APIKeyHeader": []} in users["security"]
    assert {"HTTPBearer": []} in users["security"]
    assert "security" not in schema["paths"]["/api/auth/login"]["post"]
    login = schema["paths"]["/api/auth/login"]["post"]["responses"]["200"]
    assert login["content"]["application/json"]["schema"]["$ref"].endswith("/LoginResponse")


def _schema():
    return create_app(ApiSettings()).openapi()


def test_operations_declare_the_errors_they_can_answer():
    paths = _schema()["paths"]

    assert {"400", "401", "403", "429"} <= set(paths["/api/users"]["post"]["responses"])
    assert {"401", "429"} <= set(paths["/api/machines"]["get"]["responses"])
    assert "403" not in paths["/api/machines"]["get"]["responses"]
    assert {"400", "401", "403", "429"} <= set(paths["/api/readings"]["post"]["responses"])
    assert {"401", "429"} <= set(paths["/api/auth/login"]["post"]["responses"])
    assert set(paths["/health"]["get"]["responses"]) == {"200"}
    refused = paths["/api/users"]["post"]["responses"]["401"]["content"]["application/json"]
    assert refused["schema"] == {"$ref": "#/components/schemas/HTTPValidationError"}


def test_patterns_and_lengths_are_declared():
    schema = _schema()
    components, paths = schema["components"]["schemas"], schema["paths"]
    alarm = paths["/api/alarms/{alarm_id}"]["get"]["parameters"]
    [alarm_id] = [p for p in alarm if p["name"] == "alarm_id"]
    assert alarm_id["schema"]["pattern"].startswith("^[A-Za-z0-9]")
    assert alarm_id["schema"]["pattern"].endswith("stale)$")
    thresholds = paths["/api/machines/{machine_id}/thresholds/{sensor}"]["get"]["parameters"]
    sensors = [p["schema"]["pattern"] for p in thresholds if p["name"] == "sensor"]
    assert sensors == ["^[a-z][a-z0-9_]{0,63}$"]
    assert components["LogAlarmBody"]["properties"]["sensor"]["pattern"] == sensors[0]
    assert components["NewUser"]["properties"]["password"]["minLength"] == 12
    assert components["UserChange"]["properties"]["password"]["anyOf"][0]["minLength"] == 12


def test_the_readings_examples_follow_the_contract():
    """Each example of POST /api/readings parses as the API parses a body (and the
    integration test posts them)."""
    import orjson

    from api.ingest import parse_readings_body

    body = _schema()["paths"]["/api/readings"]["post"]["requestBody"]["content"]
    examples = body["application/json"]["examples"]
    assert examples["seed"]["value"] == {"machine_id": 42, "temperature_c": 67.5}
    for example in examples.values():
        readings = parse_readings_body(
            orjson.dumps(example["value"]), source="api:x", received_ms=0, max_batch=10
        )
        assert readings
    assert "example" not in str(body["application/json"]["schema"])
