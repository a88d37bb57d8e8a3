"""/live limits against a real broker: a revoked key closes its sockets, an over-long
message is refused before it is parsed, and sockets per credential are capped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import orjson
import pytest
import websockets
from apiserver import ServerThread

from api.app import create_app
from api.settings import ApiSettings
from kafka_edge.retry import RetryPolicy, retry_async

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(
        partitions=1,
        live_max_connections_per_credential=2,
        live_max_message_bytes=1_000,
        live_recheck_s=0.5,
    )


@pytest.fixture
def http_headers(admin_headers: dict[str, str]) -> dict[str, str]:
    return admin_headers


async def _key(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    minted = await http.post("/api/keys", json={"name": name, "role": "operator"})
    assert minted.status_code == 201, minted.text
    return minted.json()["key_id"], minted.json()["secret"]


async def _close_code(ws: websockets.ClientConnection) -> int:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), DEADLINE_S)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_revoking_a_key_closes_its_open_socket(
    http: httpx.AsyncClient, server: ServerThread
) -> None:
    key_id, secret = await _key(http, "live-revoke")
    async with websockets.connect(f"{server.ws_url}/live?api_key={secret}") as ws:
        await ws.send(orjson.dumps({"action": "ping"}).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), DEADLINE_S))["type"] == "pong"
        assert (await http.delete(f"/api/keys/{key_id}")).status_code == 204
        assert await _close_code(ws) == 1008


async def test_an_over_long_message_is_refused_with_1009(
    http: httpx.AsyncClient, server: ServerThread
) -> None:
    _, secret = await _key(http, "live-big")
    async with websockets.connect(f"{server.ws_url}/live?api_key={secret}") as ws:
        await ws.send('{"action": "ping", "pad": "' + "x" * 2_000 + '"}')
        assert await _close_code(ws) == 1009
    async with websockets.connect(f"{server.ws_url}/live") as ws:
        await ws.send('{"action": "auth", "api_key": "' + "x" * 2_000 + '"}')
        assert await _close_code(ws) == 1009


async def test_sockets_per_credential_are_capped(
    http: httpx.AsyncClient, server: ServerThread
) -> None:
    _, secret = await _key(http, "live-cap")
    url = f"{server.ws_url}/live?api_key={secret}"
    async with websockets.connect(url) as first, websockets.connect(url) as second:
        for ws in (first, second):
            await ws.send('{"action": "ping"}')
            assert orjson.loads(await asyncio.wait_for(ws.recv(), DEADLINE_S))["type"] == "pong"
        async with websockets.connect(url) as third:
            assert await _close_code(third) == 1013

    # once the others are gone (the server notices within moments), it may connect again
    async def ping_again() -> dict[str, str]:
        async with websockets.connect(url) as again:
            await again.send('{"action": "ping"}')
            frame: dict[str, str] = orjson.loads(await asyncio.wait_for(again.recv(), DEADLINE_S))
            return frame

    frame = await retry_async(
        ping_again,
        policy=RetryPolicy.fixed(0.1, deadline_s=5.0),
        what="the credential connecting again",
        retry_on=(websockets.ConnectionClosed,),
    )
    assert frame["type"] == "pong"


async def test_a_socket_flooded_with_messages_is_closed_for_its_unread_replies(
    api_settings: ApiSettings, admin_key: str
) -> None:
    settings = api_settings.model_copy(update={"live_queue_frames": 4})
    message = orjson.dumps({"action": "subscribe", "machine_id": 42}).decode()
    with ServerThread(create_app(settings)) as running:
        async with websockets.connect(
            f"{running.ws_url}/live?api_key={admin_key}", max_queue=1
        ) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for _ in range(20_000):
                    await ws.send(message)
                while True:
                    await asyncio.wait_for(ws.recv(), DEADLINE_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert "sent faster than it read the replies" in closed.value.rcvd.reason
    assert "alarm" not in closed.value.rcvd.reason
