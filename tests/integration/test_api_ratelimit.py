"""Rate limits on the real app: one key flooding gets 429, another key is not affected."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import httpx
import pytest
import websockets
from apiserver import ServerThread

from api.app import create_app
from api.settings import ApiSettings

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0
READS_PER_MINUTE = 20


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(
        partitions=1,
        jwt_secret="l" + secrets.token_hex(24),
        rate_limit_read=f"{READS_PER_MINUTE}/minute",
        rate_limit_write="1000/minute",
        rate_limit_login="1000/minute",
        rate_limit_login_ip="3/minute",
    )


async def _key(http: httpx.AsyncClient, admin_key: str, name: str) -> dict[str, str]:
    response = await http.post(
        "/api/keys", headers={"X-API-Key": admin_key}, json={"name": name, "role": "operator"}
    )
    assert response.status_code == 201
    return {"X-API-Key": response.json()["secret"]}


async def test_a_flooding_key_gets_429_and_another_key_is_unaffected(
    http: httpx.AsyncClient, admin_key: str
) -> None:
    flooder, bystander = await _key(http, admin_key, "flooder"), await _key(http, admin_key, "ok")

    flood = await asyncio.gather(
        *(http.get("/api/machines", headers=flooder) for _ in range(READS_PER_MINUTE * 3))
    )
    calm = [await http.get("/api/machines", headers=bystander) for _ in range(5)]

    statuses = [r.status_code for r in flood]
    assert statuses.count(200) == READS_PER_MINUTE
    assert statuses.count(429) == READS_PER_MINUTE * 2
    refused = next(r for r in flood if r.status_code == 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == str(READS_PER_MINUTE)
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 0 <= int(refused.headers["RateLimit-Reset"]) <= 60
    assert refused.json()["detail"].startswith("rate limit: ")
    assert [r.status_code for r in calm] == [200] * 5
    assert calm[-1].headers["RateLimit-Limit"] == str(READS_PER_MINUTE)
    assert calm[-1].headers["RateLimit-Remaining"] == str(READS_PER_MINUTE - 5)
    metrics = (await http.get("/metrics")).text
    assert 'millstream_api_rate_limited_total{route_class="read"} 40.0' in metrics


async def test_writes_count_separately_from_reads(http: httpx.AsyncClient, admin_key: str) -> None:
    reader = await _key(http, admin_key, "reader")
    for _ in range(READS_PER_MINUTE):
        await http.get("/api/machines", headers=reader)
    assert (await http.get("/api/machines", headers=reader)).status_code == 429

    # a write (here refused as 403: operators cannot post) still passes the read limit
    write = await http.post("/api/readings", headers=reader, json={"machine_id": 1})
    assert write.status_code == 403


async def test_login_is_limited_per_client_address(http: httpx.AsyncClient) -> None:
    attempts = [
        await http.post(
            "/api/auth/login", json={"username": f"guess{i}", "password": "wrong-password-1"}
        )
        for i in range(5)
    ]

    assert [r.status_code for r in attempts] == [401, 401, 401, 429, 429]
    assert int(attempts[-1].headers["Retry-After"]) >= 1


async def test_wrong_credentials_are_limited_per_address_then_every_credential_waits(
    api_settings: ApiSettings, admin_key: str
) -> None:
    """Guessing keys stays slow: past the failures allowed from an address, that address
    gets 429 (with Retry-After) for any credential, a valid one too, until the window
    allows more."""
    settings = api_settings.model_copy(update={"rate_limit_auth_failures": "5/minute"})
    with ServerThread(create_app(settings)) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=DEADLINE_S) as client:
            ok = await client.get("/api/machines", headers={"X-API-Key": admin_key})
            assert ok.status_code == 200
            guesses = [
                await client.get("/api/machines", headers={"X-API-Key": f"guess-{n}"})
                for n in range(8)
            ]
            assert [r.status_code for r in guesses] == [401] * 5 + [429] * 3
            refused = guesses[-1]
            assert refused.json()["detail"].startswith("rate limit: more than 5 auth failures")
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            bearer = await client.get(
                "/api/machines", headers={"Authorization": "Bearer not.a.token"}
            )
            assert bearer.status_code == 429
            valid = await client.get("/api/machines", headers={"X-API-Key": admin_key})
            assert valid.status_code == 429
            # No credential at all is not a guess: still 401, naming what to send.
            missing = await client.get("/api/machines")
            assert missing.status_code == 401
        # /live counts the same failures: the address is refused before the handshake.
        ws_url = running.url.replace("http://", "ws://") + f"/live?api_key={admin_key}"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused_ws:
            async with websockets.connect(ws_url, open_timeout=DEADLINE_S):
                pass
        assert refused_ws.value.response.status_code == 403


async def test_wrong_credentials_on_live_count_against_the_address(
    api_settings: ApiSettings, admin_key: str
) -> None:
    settings = api_settings.model_copy(update={"rate_limit_auth_failures": "2/minute"})
    with ServerThread(create_app(settings)) as running:
        base = running.url.replace("http://", "ws://") + "/live?api_key="
        for n in range(2):
            async with websockets.connect(base + f"guess-{n}", open_timeout=DEADLINE_S) as ws:
                with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), DEADLINE_S)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        async with httpx.AsyncClient(base_url=running.url, timeout=DEADLINE_S) as client:
            deadline = asyncio.get_running_loop().time() + DEADLINE_S
            while True:  # the failures are counted as each socket ends
                answer = await client.get("/api/machines", headers={"X-API-Key": admin_key})
                if answer.status_code == 429 or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert answer.status_code == 429


def _from(address: str, url: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=url, timeout=DEADLINE_S, transport=transport)


async def test_a_guesser_is_slowed_per_address_and_user_not_the_owner(
    api_settings: ApiSettings, admin_key: str
) -> None:
    """Wrong passwords for a user from one address slow that address only; the owner, from
    another address, logs in. Past the cap for the user from all addresses, all wait."""
    settings = api_settings.model_copy(
        update={
            "rate_limit_login": "3/hour",
            "rate_limit_login_ip": "1000/hour",
            "rate_limit_login_user": "6/hour",
        }
    )
    name, password = "owner-" + secrets.token_hex(3), "pw-" + secrets.token_hex(10)
    wrong = {"username": name, "password": "wrong-password-1"}
    right = {"username": name, "password": password}
    with ServerThread(create_app(settings)) as running:
        async with (
            _from("127.0.0.1", running.url) as owner,
            _from("127.0.0.2", running.url) as guesser,
            _from("127.0.0.3", running.url) as second_guesser,
        ):
            created = await owner.post(
                "/api/users",
                headers={"X-API-Key": admin_key},
                json={**right, "role": "operator"},
            )
            assert created.status_code == 201, created.text
            guesses = [await guesser.post("/api/auth/login", json=wrong) for _ in range(5)]
            mine = await owner.post("/api/auth/login", json=right)
            more = [await second_guesser.post("/api/auth/login", json=wrong) for _ in range(4)]
            capped = await owner.post("/api/auth/login", json=right)

    assert mine.status_code == 200, mine.text
    assert [r.status_code for r in guesses] == [401] * 3 + [429] * 2
    assert "for this user from this address" in guesses[-1].json()["detail"]
    assert [r.status_code for r in more] == [401] * 3 + [429]
    assert capped.status_code == 429
    assert capped.json()["detail"].startswith("rate limit: more than 6 failed logins for this")
    assert int(capped.headers["Retry-After"]) >= 1
