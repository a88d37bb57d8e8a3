"""The ``/live`` WebSocket against real Kafka, with the ``websockets`` client a user would use."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import websockets
from aiokafka import AIOKafkaProducer
from apiserver import ServerThread
from websockets.asyncio.client import ClientConnection

from api.live.frames import alarm_frame, reading_frame
from api.settings import ApiSettings
from contracts.alarms import AlarmEvent, alarm_id
from contracts.readings import Reading
from contracts.timefmt import now_ms

pytestmark = pytest.mark.integration

DEADLINE_S = 15.0
SEED_SUBSCRIBE = {
    "action": "subscribe",
    "machine_id": 42,
    "sensors": ["temperature", "vibration", "power"],
}


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    """Topics of this module's own; one server serves every test of the module."""
    return make_api_settings(partitions=3)


async def _next_frame(ws: ClientConnection, *, of_type: str | None = None) -> dict[str, Any]:
    """The next frame (of ``of_type``, skipping others), within the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {of_type or 'frame'} within {DEADLINE_S}s"
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), remaining))
        if of_type is None or frame["type"] == of_type:
            return frame


def _reading(machine_id: str, **values: float) -> Reading:
    return Reading(machine_id=machine_id, ts_ms=now_ms(), values=values, seq=1, source="test")


async def _send_reading(
    producer: AIOKafkaProducer, topic: str, reading: Reading, *, partition: int | None = None
) -> None:
    await producer.send_and_wait(
        topic, key=reading.key(), value=reading.encode(), partition=partition
    )


async def test_seed_subscription_receives_flat_reading_and_alarm_frames(
    server: ServerThread, api_settings: ApiSettings, admin_key: str, producer: AIOKafkaProducer
) -> None:
    topics = api_settings.topics
    async with websockets.connect(f"{server.ws_url}/live?api_key={admin_key}") as ws:
        await ws.send(orjson.dumps(SEED_SUBSCRIBE).decode())
        ack = await _next_frame(ws)
        assert ack == {
            "type": "subscribed",
            "machine_id": 42,
            "sensors": ["temperature", "vibration", "power"],
        }

        reading = _reading(
            "42", temperature_c=68.1, vibration_mm_s=3.5, power_kw=12.7, pressure_bar=4.8
        )
        await _send_reading(producer, topics.readings, reading)
        frame = await _next_frame(ws, of_type="reading")

        assert frame["machine_id"] == 42
        assert frame["temperature_c"] == 68.1
        assert frame["vibration_mm_s"] == 3.5
        assert frame["power_kw"] == 12.7
        assert "pressure_bar" not in frame
        assert frame["ts"] == reading_frame(reading)["ts"]

        event = AlarmEvent(
            alarm_id=alarm_id("42", "temperature_c", "high"),
            event="raised",
            state="active_unacknowledged",
            machine_id="42",
            sensor="temperature_c",
            rule="high",
            severity="high",
            value=86.2,
            threshold=85.0,
            ts_ms=now_ms(),
            message="High temperature on machine 42",
        )
        await producer.send_and_wait(topics.alarms, key=event.key(), value=event.encode())
        alarm = await _next_frame(ws, of_type="alarm")

        assert alarm == alarm_frame(event, alarm["cursor"])
        assert all(part.count(":") == 1 for part in alarm["cursor"].split(","))


async def test_control_messages_are_acknowledged_and_errors_do_not_close(
    server: ServerThread, admin_key: str
) -> None:
    async with websockets.connect(f"{server.ws_url}/live?api_key={admin_key}") as ws:
        await ws.send('{"action": "dance"}')
        unknown = await _next_frame(ws)
        await ws.send("not json")
        garbage = await _next_frame(ws)
        await ws.send('{"action": "subscribe", "machine_id": 42, "sensors": "temperature"}')
        bad_sensors = await _next_frame(ws)
        await ws.send('{"action": "ping"}')
        pong = await _next_frame(ws)
        await ws.send('{"action": "unsubscribe", "machine_id": 42}')
        unsubscribed = await _next_frame(ws)

    assert unknown["type"] == "error"
    assert unknown["detail"].startswith("action: unknown action 'dance'")
    assert garbage["type"] == "error"
    assert bad_sensors == {
        "type": "error",
        "detail": 'sensors: must be a list of names, e.g. ["temperature", "power"]',
    }
    assert pong["type"] == "pong"
    assert unsubscribed == {"type": "unsubscribed", "machine_id": 42}


async def test_unsubscribed_machine_gets_no_more_frames(
    server: ServerThread, api_settings: ApiSettings, admin_key: str, producer: AIOKafkaProducer
) -> None:
    topic = api_settings.topics.readings
    quiet, loud = f"q{secrets.token_hex(4)}", f"l{secrets.token_hex(4)}"
    async with websockets.connect(f"{server.ws_url}/live?api_key={admin_key}") as ws:
        await ws.send(orjson.dumps({"action": "subscribe", "machine_id": quiet}).decode())
        await _next_frame(ws, of_type="subscribed")
        await ws.send(orjson.dumps({"action": "unsubscribe", "machine_id": quiet}).decode())
        await _next_frame(ws, of_type="unsubscribed")
        await ws.send(orjson.dumps({"action": "subscribe", "machine_id": loud}).decode())
        await _next_frame(ws, of_type="subscribed")

        # Same partition, so the feed sees the quiet reading before the loud one.
        await _send_reading(producer, topic, _reading(quiet, temperature_c=1.0), partition=0)
        await _send_reading(producer, topic, _reading(loud, temperature_c=2.0), partition=0)
        frame = await _next_frame(ws)

    assert frame["type"] == "reading"
    assert frame["machine_id"] == loud


async def test_auth_message_first_is_accepted(server: ServerThread, admin_key: str) -> None:
    async with websockets.connect(f"{server.ws_url}/live") as ws:
        await ws.send(orjson.dumps({"action": "auth", "api_key": admin_key}).decode())
        hello = await _next_frame(ws)
        await ws.send(orjson.dumps(SEED_SUBSCRIBE).decode())
        ack = await _next_frame(ws)

    assert hello == {"type": "authenticated", "key_name": "bootstrap-admin", "role": "admin"}
    assert ack["type"] == "subscribed"


@pytest.mark.parametrize(
    ("path", "first_message", "reason_start"),
    [
        ("/live", SEED_SUBSCRIBE, "authentication required"),
        ("/live?api_key=sk_prod_wrong", None, "api_key: not a valid credential"),
        ("/live", {"action": "auth", "api_key": "sk_prod_wrong"}, "api_key: not a valid"),
    ],
)
async def test_no_anonymous_access_closes_1008(
    server: ServerThread, path: str, first_message: dict[str, Any] | None, reason_start: str
) -> None:
    async with websockets.connect(f"{server.ws_url}{path}") as ws:
        if first_message is not None:
            await ws.send(orjson.dumps(first_message).decode())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), DEADLINE_S)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason.startswith(reason_start)
