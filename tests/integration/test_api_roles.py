"""Every route of the app by every role: 401 without a credential, 403 below the route's
minimum role, neither at or above it.

``MIN_ROLE`` is the one table of who may call what. The test walks ``app.routes``, so a
route added anywhere in the app fails here until it is given a row.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from typing import Literal

import httpx
import pytest
import websockets
from apiserver import ServerThread
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.routing import Route, WebSocketRoute

from api.settings import ApiSettings

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0
MinRole = Literal["public", "operator", "engineer", "admin"]
ROLES = ("operator", "engineer", "admin")
RANK = {"public": -1, "operator": 0, "engineer": 1, "admin": 2}

# (method, path template) -> the lowest role allowed. "WS" is a WebSocket route.
MIN_ROLE: dict[tuple[str, str], MinRole] = {
    # open to all: probes, docs, the dashboard page, login
    ("GET", "/health"): "public",
    ("GET", "/ready"): "public",
    ("GET", "/metrics"): "public",
    ("GET", "/"): "public",
    ("GET", "/console/{name}"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/docs/oauth2-redirect"): "public",
    ("GET", "/redoc"): "public",
    ("HEAD", "/openapi.json"): "public",
    ("HEAD", "/docs"): "public",
    ("HEAD", "/docs/oauth2-redirect"): "public",
    ("HEAD", "/redoc"): "public",
    ("POST", "/api/auth/login"): "public",
    # operators read
    ("GET", "/api/auth/me"): "operator",
    ("GET", "/api/machines"): "operator",
    ("GET", "/api/machines/{machine_id}"): "operator",
    ("GET", "/api/machines/{machine_id}/readings"): "operator",
    ("GET", "/api/machines/{machine_id}/latest"): "operator",
    ("GET", "/api/machines/{machine_id}/aggregates"): "operator",
    ("GET", "/api/latest"): "operator",
    ("GET", "/api/machines/{machine_id}/alarms"): "operator",
    ("GET", "/api/alarms"): "operator",
    ("GET", "/api/alarms/journal"): "operator",
    ("GET", "/api/alarms/{alarm_id}"): "operator",
    ("GET", "/api/machines/{machine_id}/thresholds"): "operator",
    ("GET", "/api/machines/{machine_id}/thresholds/{sensor}"): "operator",
    ("GET", "/api/machines/{machine_id}/commands/{command_id}"): "operator",
    ("GET", "/api/commands/{command_id}"): "operator",
    ("GET", "/api/machines/{machine_id}/maintenance"): "operator",
    ("GET", "/api/machines/{machine_id}/maintenance/{schedule_id}"): "operator",
    ("WS", "/live"): "operator",
    # engineers write
    ("POST", "/api/readings"): "engineer",
    ("POST", "/api/machines"): "engineer",
    ("PUT", "/api/machines/{machine_id}"): "engineer",
    ("PATCH", "/api/machines/{machine_id}"): "engineer",
    ("DELETE", "/api/machines/{machine_id}"): "engineer",
    ("POST", "/api/alarms"): "engineer",
    ("POST", "/api/alarms/{alarm_id}/acknowledge"): "engineer",
    ("POST", "/api/alarms/{alarm_id}/shelve"): "engineer",
    ("POST", "/api/alarms/{alarm_id}/unshelve"): "engineer",
    ("POST", "/api/alarms/{alarm_id}/actions"): "engineer",
    ("PUT", "/api/machines/{machine_id}/thresholds"): "engineer",
    ("PATCH", "/api/machines/{machine_id}/thresholds"): "engineer",
    ("PUT", "/api/machines/{machine_id}/thresholds/{sensor}"): "engineer",
    ("PATCH", "/api/machines/{machine_id}/thresholds/{sensor}"): "engineer",
    ("DELETE", "/api/machines/{machine_id}/thresholds/{sensor}"): "engineer",
    ("POST", "/api/machines/{machine_id}/commands"): "engineer",
    ("POST", "/api/machines/{machine_id}/maintenance"): "engineer",
    ("PUT", "/api/machines/{machine_id}/maintenance/{schedule_id}"): "engineer",
    ("PATCH", "/api/machines/{machine_id}/maintenance/{schedule_id}"): "engineer",
    ("DELETE", "/api/machines/{machine_id}/maintenance/{schedule_id}"): "engineer",
    ("POST", "/api/machines/{machine_id}/thresholds/{sensor}/backtest"): "engineer",
    ("GET", "/api/alarm-health"): "engineer",
    # admins control users, keys and the audit log
    ("POST", "/api/users"): "admin",
    ("GET", "/api/users"): "admin",
    ("GET", "/api/users/{username}"): "admin",
    ("PATCH", "/api/users/{username}"): "admin",
    ("DELETE", "/api/users/{username}"): "admin",
    ("POST", "/api/keys"): "admin",
    ("GET", "/api/keys"): "admin",
    ("DELETE", "/api/keys/{key_id}"): "admin",
    ("GET", "/api/audit"): "admin",
}

# Values for path parameters: valid in form, naming nothing that exists.
PATH_VALUES = {
    "machine_id": "987654",
    "sensor": "temperature_c",
    "username": "nobody-here",
    "key_id": "no-such-key",
    "alarm_id": "987654:temperature_c:threshold",
    "command_id": "no-such-command",
    "schedule_id": "no-such-schedule",
}


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves."""
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        assert path is not None, route
        if isinstance(route, APIWebSocketRoute | WebSocketRoute):
            found.append(("WS", path))
        elif isinstance(route, APIRoute | Route):
            found += [(m, path) for m in sorted(route.methods or ())]
        else:
            raise AssertionError(f"unknown kind of route: {route!r}")
    return found


def fill(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x1"), path)


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(
        partitions=1,
        jwt_secret="r" + secrets.token_hex(24),
        rate_limit_read="100000/minute",
        rate_limit_write="100000/minute",
        live_auth_timeout_s=2.0,
    )


@pytest.fixture
async def credentials(
    http: httpx.AsyncClient, admin_key: str
) -> dict[str, dict[str, dict[str, str]]]:
    """role -> {"api_key": headers, "user": headers} for a fresh key and user of that role."""
    admin = {"X-API-Key": admin_key}
    result: dict[str, dict[str, dict[str, str]]] = {}
    for role in ROLES:
        key = await http.post("/api/keys", headers=admin, json={"name": f"t-{role}", "role": role})
        name, password = f"{role}-{secrets.token_hex(3)}", "pw-" + secrets.token_hex(10)
        user = await http.post(
            "/api/users", headers=admin, json={"username": name, "password": password, "role": role}
        )
        assert key.status_code == 201 and user.status_code == 201, (key.text, user.text)
        login = await http.post("/api/auth/login", json={"username": name, "password": password})
        result[role] = {
            "api_key": {"X-API-Key": key.json()["secret"]},
            "user": {"Authorization": f"Bearer {login.json()['token']}"},
        }
    return result


def test_every_route_has_a_row(app: FastAPI) -> None:
    missing = [r for r in app_routes(app) if r not in MIN_ROLE]
    assert not missing, f"routes without a row in MIN_ROLE: {missing}"


async def _call(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await http.request(method, fill(path), headers=headers, json=body)


@pytest.mark.parametrize("kind", ["api_key", "user"])
async def test_every_http_route_for_every_role(
    app: FastAPI,
    http: httpx.AsyncClient,
    credentials: dict[str, dict[str, dict[str, str]]],
    kind: str,
) -> None:
    failures: list[str] = []
    checked = 0
    for method, path in app_routes(app):
        if method == "WS":
            continue
        minimum = MIN_ROLE[(method, path)]
        anonymous = await _call(http, method, path, {})
        if minimum == "public":
            if anonymous.status_code in (401, 403):
                failures.append(f"{method} {path}: public, got {anonymous.status_code}")
        elif anonymous.status_code != 401 or "WWW-Authenticate" not in anonymous.headers:
            failures.append(f"{method} {path}: no credential, got {anonymous.status_code}")
        for role in ROLES:
            response = await _call(http, method, path, credentials[role][kind])
            checked += 1
            allowed = RANK[role] >= RANK[minimum]
            if allowed and response.status_code in (401, 403):
                failures.append(f"{method} {path} as {role}: got {response.status_code}")
            if not allowed and response.status_code != 403:
                failures.append(f"{method} {path} as {role}: want 403, got {response.status_code}")
    assert not failures, "\n".join(failures)
    assert checked >= 3 * 10


async def test_websocket_routes_refuse_a_bad_credential_and_take_an_operator(
    app: FastAPI, server: ServerThread, credentials: dict[str, dict[str, dict[str, str]]]
) -> None:
    ws_routes = [path for method, path in app_routes(app) if method == "WS"]
    assert ws_routes
    operator_key = credentials["operator"]["api_key"]["X-API-Key"]
    for path in ws_routes:
        assert MIN_ROLE[("WS", path)] == "operator"
        async with websockets.connect(f"{server.ws_url}{path}?api_key=msk_wrong") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), DEADLINE_S)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        async with websockets.connect(f"{server.ws_url}{path}?api_key={operator_key}") as ws:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)
