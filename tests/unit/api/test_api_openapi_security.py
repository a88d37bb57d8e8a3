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
