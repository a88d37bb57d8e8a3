"""HTTP mapping of the API's errors, with the app's services replaced by small fakes.

The lifespan is not run here (ASGITransport does not send lifespan events); the real
services are covered by tests/integration/test_api_*.py.
"""

import httpx
import pytest

from api.app import create_app
from api.auth.index import KeyIndex
from api.auth.keys import mint_key
from api.auth.roles import Role
from api.deps import get_history, get_machines, get_publisher
from api.errors import BrokerUnavailableError
from api.settings import ApiSettings

ENGINEER = mint_key(name="scada", role=Role.engineer, created_ms=0)
OPERATOR = mint_key(name="screen", role=Role.operator, created_ms=0)


class FailingPublisher:
    async def publish(self, topic, records):
        raise BrokerUnavailableError("kafka: records not acknowledged within 1s", retry_after_s=7)


class NoMachines:
    def stored_plant(self, machine_id):
        return ""


class ExplodingPublisher:
    async def publish(self, topic, records):
        raise RuntimeError("boom")


@pytest.fixture
def app(keys_only_security):
    app = create_app(ApiSettings(kafka_bootstrap_servers="127.0.0.1:1"))
    index = KeyIndex()
    index.put(ENGINEER.record)
    index.put(OPERATOR.record)
    keys_only_security(app, index)
    app.dependency_overrides[get_publisher] = FailingPublisher
    app.dependency_overrides[get_history] = object
    app.dependency_overrides[get_machines] = NoMachines
    return app


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http


READING = {"machine_id": 42, "temperature_c": 67.5}


async def test_kafka_down_is_503_with_retry_after(client):
    response = await client.post(
        "/api/readings", json=READING, headers={"X-API-Key": ENGINEER.secret}
    )

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"detail": "kafka: records not acknowledged within 1s"}


async def test_operator_cannot_post_readings(client):
    response = await client.post(
        "/api/readings", json=READING, headers={"X-API-Key": OPERATOR.secret}
    )

    assert response.status_code == 403
    assert response.json() == {
        "detail": "role engineer or higher required; key 'screen' has role operator"
    }


async def test_missing_key_is_401_with_challenge(client):
    response = await client.post("/api/readings", json=READING)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("ApiKey")
    assert "X-API-Key" in response.json()["detail"]


async def test_framework_errors_are_json_too(client):
    not_found = await client.get("/nope")
    wrong_method = await client.delete("/health")
    bad_limit = await client.get(
        "/api/machines/42/readings?limit=lots", headers={"X-API-Key": OPERATOR.secret}
    )

    assert not_found.status_code == 404
    assert not_found.json() == {"detail": "Not Found"}
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "Method Not Allowed"}
    assert bad_limit.status_code == 422
    assert bad_limit.json()["detail"].startswith("limit: ")


async def test_unexpected_errors_are_json_500(app, client):
    app.dependency_overrides[get_publisher] = ExplodingPublisher

    response = await client.post(
        "/api/readings", json=READING, headers={"X-API-Key": ENGINEER.secret}
    )

    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}


def test_openapi_documents_the_routes(app):
    paths = app.openapi()["paths"]

    assert {
        "/api/readings",
        "/api/machines",
        "/api/machines/{machine_id}",
        "/api/machines/{machine_id}/readings",
        "/health",
        "/ready",
    } <= set(paths)
    assert "requestBody" in paths["/api/readings"]["post"]


async def test_credentials_are_503_until_the_security_services_run():
    app = create_app(ApiSettings(kafka_bootstrap_servers="127.0.0.1:1"))  # no lifespan, no fake
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        response = await http.post(
            "/api/readings", json=READING, headers={"X-API-Key": ENGINEER.secret}
        )

    assert response.status_code == 503
    assert response.json() == {"detail": "api: starting up or shutting down"}
