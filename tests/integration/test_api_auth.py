"""Users, login tokens and API keys over REST, against a real Kafka and InfluxDB."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from apiserver import ServerThread
from fastapi import FastAPI

from api.app import create_app
from api.settings import ApiSettings
from contracts.settings import CommonSettings

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0
ADMIN_USER = "root-admin"


@pytest.fixture(scope="module")
def admin_password() -> str:
    return "pw-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings], admin_password: str) -> ApiSettings:
    return make_api_settings(
        partitions=1,
        admin_username=ADMIN_USER,
        admin_password=admin_password,
        jwt_secret="j" + secrets.token_hex(24),
        rate_limit_login="1000/minute",
        rate_limit_login_ip="1000/minute",
    )


async def _login(http: httpx.AsyncClient, username: str, password: str) -> str:
    response = await http.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_seed_login_then_bearer_calls(
    http: httpx.AsyncClient, api_settings: ApiSettings, admin_password: str
) -> None:
    response = await http.post(
        "/api/auth/login", json={"username": ADMIN_USER, "password": admin_password}
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"token"}
    assert api_settings.jwt_secret is not None
    claims = jwt.decode(
        body["token"],
        api_settings.jwt_secret.get_secret_value(),
        algorithms=["HS256"],
        options={"verify_iss": False},
    )
    assert claims["sub"] == ADMIN_USER
    assert claims["exp"] - claims["iat"] == api_settings.jwt_ttl_s
    me = await http.get("/api/auth/me", headers=_bearer(body["token"]))
    assert me.status_code == 200
    assert me.json() == {
        "name": ADMIN_USER,
        "role": "admin",
        "kind": "user",
        "principal": f"user:{ADMIN_USER}",
    }
    machines = await http.get("/api/machines", headers=_bearer(body["token"]))
    assert machines.status_code == 200


async def test_wrong_password_unknown_user_and_forged_token_are_401(
    http: httpx.AsyncClient, admin_password: str
) -> None:
    wrong = await http.post(
        "/api/auth/login", json={"username": ADMIN_USER, "password": admin_password + "x"}
    )
    unknown = await http.post(
        "/api/auth/login", json={"username": "nobody", "password": admin_password}
    )
    forged = jwt.encode(
        {
            "sub": ADMIN_USER,
            "ver": 0,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "iss": "millstream-api",
        },
        "not-the-server-secret-" + secrets.token_hex(8),
        algorithm="HS256",
    )
    with_forged = await http.get("/api/machines", headers=_bearer(forged))
    unsigned = jwt.encode({"sub": ADMIN_USER}, None, algorithm="none")  # type: ignore[arg-type]
    with_unsigned = await http.get("/api/machines", headers=_bearer(unsigned))

    for response in (wrong, unknown, with_forged, with_unsigned):
        assert response.status_code == 401, response.text
        assert "Bearer" in response.headers["WWW-Authenticate"]
    assert wrong.json() == unknown.json() == {"detail": "username or password: not valid"}


async def test_expired_token_is_401(
    http: httpx.AsyncClient, api_settings: ApiSettings, admin_password: str
) -> None:
    assert api_settings.jwt_secret is not None
    token = await _login(http, ADMIN_USER, admin_password)
    claims = jwt.decode(
        token,
        api_settings.jwt_secret.get_secret_value(),
        algorithms=["HS256"],
        options={"verify_iss": False},
    )
    claims["iat"] -= 7200
    claims["exp"] = int(time.time()) - 5
    expired = jwt.encode(claims, api_settings.jwt_secret.get_secret_value(), algorithm="HS256")

    response = await http.get("/api/machines", headers=_bearer(expired))

    assert response.status_code == 401


async def test_admin_manages_users_and_changes_end_tokens(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    admin = {"X-API-Key": admin_key}
    name = "alice-" + secrets.token_hex(3)
    password = "pw-" + secrets.token_hex(10)

    created = await http.post(
        "/api/users",
        headers=admin,
        json={"username": name, "password": password, "role": "engineer"},
    )
    again = await http.post(
        "/api/users",
        headers=admin,
        json={"username": name, "password": password, "role": "engineer"},
    )
    weak = await http.post(
        "/api/users", headers=admin, json={"username": name + "2", "password": "short"}
    )

    assert created.status_code == 201, created.text
    assert created.json()["role"] == "engineer"
    assert "password" not in created.text and "argon2" not in created.text
    assert again.status_code == 409
    assert weak.status_code == 422
    assert "password" in weak.json()["detail"]
    assert "at least 12 characters" in weak.json()["detail"]
    listing = await http.get("/api/users", headers=admin)
    assert name in [u["username"] for u in listing.json()]
    assert "argon2" not in listing.text

    token = await _login(http, name, password)
    assert (await http.get("/api/users", headers=_bearer(token))).status_code == 403
    assert (await http.get("/api/machines", headers=_bearer(token))).status_code == 200

    disabled = await http.patch(f"/api/users/{name}", headers=admin, json={"disabled": True})
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    assert (await http.get("/api/machines", headers=_bearer(token))).status_code == 401
    refused = await http.post("/api/auth/login", json={"username": name, "password": password})
    assert refused.status_code == 401

    await http.patch(f"/api/users/{name}", headers=admin, json={"disabled": False})
    token = await _login(http, name, password)
    new_password = "pw-" + secrets.token_hex(10)
    changed = await http.patch(
        f"/api/users/{name}", headers=admin, json={"password": new_password, "role": "operator"}
    )
    assert changed.json()["role"] == "operator"
    assert (await http.get("/api/machines", headers=_bearer(token))).status_code == 401
    token = await _login(http, name, new_password)
    fetched = await http.get(f"/api/users/{name}", headers=admin)
    assert fetched.json()["role"] == "operator"

    deleted = await http.delete(f"/api/users/{name}", headers=admin)
    assert deleted.status_code == 204
    assert (await http.get("/api/machines", headers=_bearer(token))).status_code == 401
    assert (await http.get(f"/api/users/{name}", headers=admin)).status_code == 404
    assert (await http.delete(f"/api/users/{name}", headers=admin)).status_code == 404


async def test_a_deleted_users_token_never_returns_when_the_name_is_created_again(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    admin = {"X-API-Key": admin_key}
    name = "bob-" + secrets.token_hex(3)
    password = "pw-" + secrets.token_hex(10)
    user = {"username": name, "password": password, "role": "operator"}
    assert (await http.post("/api/users", headers=admin, json=user)).status_code == 201
    old_token = await _login(http, name, password)
    assert (await http.delete(f"/api/users/{name}", headers=admin)).status_code == 204

    again = await http.post("/api/users", headers=admin, json={**user, "role": "admin"})

    assert again.status_code == 201, again.text
    assert (await http.get("/api/machines", headers=_bearer(old_token))).status_code == 401
    assert (await http.get("/api/users", headers=_bearer(old_token))).status_code == 401
    new_token = await _login(http, name, password)
    assert (await http.get("/api/users", headers=_bearer(new_token))).status_code == 200


async def test_a_body_that_is_not_json_is_answered_after_the_credential(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    admin = {"X-API-Key": admin_key}
    operator = await http.post("/api/keys", headers=admin, json={"name": "op", "role": "operator"})
    garbage = {"Content-Type": "application/json"}
    routes = [("POST", "/api/users"), ("PATCH", "/api/machines/42/thresholds/temperature_c")]
    for method, url in routes:
        anonymous = await http.request(method, url, content=b"{not json", headers=garbage)
        forged = await http.request(
            method, url, content=b"{not json", headers={**garbage, "X-API-Key": "sk_nope"}
        )
        low = await http.request(
            method,
            url,
            content=b"{not json",
            headers={**garbage, "X-API-Key": operator.json()["secret"]},
        )
        allowed = await http.request(
            method, url, content=b"{not json", headers={**garbage, **admin}
        )
        assert anonymous.status_code == 401, (url, anonymous.text)
        assert forged.status_code == 401, (url, forged.text)
        assert low.status_code == 403, (url, low.text)
        assert "role" in low.json()["detail"]
        assert allowed.status_code == 422, (url, allowed.text)


async def test_a_second_replica_sees_user_changes_within_seconds(
    http: httpx.AsyncClient, api_settings: ApiSettings, admin_key: str
) -> None:
    """Two API processes on one users topic: a user disabled on one is refused by the other."""
    admin = {"X-API-Key": admin_key}
    name = "bob-" + secrets.token_hex(3)
    password = "pw-" + secrets.token_hex(10)
    await http.post("/api/users", headers=admin, json={"username": name, "password": password})
    with ServerThread(create_app(api_settings)) as replica:
        async with httpx.AsyncClient(base_url=replica.url, timeout=DEADLINE_S) as other:
            token = await _login(other, name, password)
            assert (await http.get("/api/machines", headers=_bearer(token))).status_code == 200

            await http.patch(f"/api/users/{name}", headers=admin, json={"disabled": True})
            started = time.monotonic()
            status = 200
            while status == 200 and time.monotonic() - started < 5.0:
                status = (await other.get("/api/machines", headers=_bearer(token))).status_code
                await asyncio.sleep(0.05)
            assert status == 401
            assert time.monotonic() - started < 5.0


async def test_keys_over_rest_show_the_secret_once_and_revoke(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    admin = {"X-API-Key": admin_key}
    created = await http.post(
        "/api/keys", headers=admin, json={"name": "scada-line-9", "role": "engineer"}
    )
    assert created.status_code == 201
    body = created.json()
    secret, key_id = body["secret"], body["key_id"]
    assert body["role"] == "engineer"

    listing = await http.get("/api/keys", headers=admin)
    assert listing.status_code == 200
    assert key_id in [k["key_id"] for k in listing.json()]
    assert secret not in listing.text
    assert all(set(k) == {"key_id", "name", "role", "created"} for k in listing.json())

    for headers in ({"X-API-Key": secret}, {"Authorization": f"Bearer {secret}"}):
        me = await http.get("/api/auth/me", headers=headers)
        assert me.json()["principal"] == f"key:{key_id}"

    assert (await http.delete(f"/api/keys/{key_id}", headers=admin)).status_code == 204
    assert (await http.get("/api/machines", headers={"X-API-Key": secret})).status_code == 401
    assert (await http.delete(f"/api/keys/{key_id}", headers=admin)).status_code == 404


async def test_still_valid_answers_for_live_connections(
    app: FastAPI, http: httpx.AsyncClient, admin_key: str
) -> None:
    """What a WebSocket re-checks: a revoked key or a disabled user is no longer valid."""
    admin = {"X-API-Key": admin_key}
    auth = app.state.security.auth
    minted = await http.post("/api/keys", headers=admin, json={"name": "ws", "role": "operator"})
    name, password = "carol-" + secrets.token_hex(3), "pw-" + secrets.token_hex(10)
    await http.post("/api/users", headers=admin, json={"username": name, "password": password})
    key_identity = auth.authenticate(minted.json()["secret"])
    user_identity = auth.authenticate(await _login(http, name, password))
    assert key_identity is not None and user_identity is not None
    assert auth.still_valid(key_identity) and auth.still_valid(user_identity)

    await http.delete(f"/api/keys/{minted.json()['key_id']}", headers=admin)
    await http.patch(f"/api/users/{name}", headers=admin, json={"role": "engineer"})

    assert not auth.still_valid(key_identity)
    assert not auth.still_valid(user_identity)


def test_add_user_cli_creates_a_user_that_can_log_in(
    service_env: dict[str, str], common_settings: CommonSettings
) -> None:
    password = "pw-" + secrets.token_hex(10)
    env = {**service_env, "MILLSTREAM_NEW_USER_PASSWORD": password}
    command = [sys.executable, "-m", "api", "add-user", "--username", "dave", "--role", "engineer"]

    created = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    weak = subprocess.run(
        command,
        env={**env, "MILLSTREAM_NEW_USER_PASSWORD": "short"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert created.returncode == 0, created.stderr
    assert "user dave (engineer) saved" in created.stdout
    assert password not in created.stdout + created.stderr
    assert weak.returncode == 2
    assert "at least 12 characters" in weak.stderr
    settings = ApiSettings(**common_settings.model_dump())
    with ServerThread(create_app(settings)) as server, httpx.Client(base_url=server.url) as http:
        login = http.post("/api/auth/login", json={"username": "dave", "password": password})
        assert login.status_code == 200
        me = http.get("/api/auth/me", headers=_bearer(login.json()["token"]))
        assert me.json()["role"] == "engineer"
