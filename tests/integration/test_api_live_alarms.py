"""/live additions against a real broker: alarms of a plant with a resumable cursor,
aggregates, and the role-checked ack and command actions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import websockets
from aiokafka import AIOKafkaProducer, TopicPartition
from apiserver import ServerThread, end_offsets, records_since
from pipelinetools import raised_alarm
from websockets.asyncio.client import ClientConnection

from api.settings import ApiSettings
from contracts.aggregates import SensorStats, WindowAggregate
from contracts.alarm_actions import decode_alarm_action
from contracts.alarm_state import AlarmStateRecord
from contracts.alarms import AlarmEvent
from contracts.commands import decode_command
from contracts.timefmt import now_ms

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(partitions=3)


async def _frames(ws: ClientConnection, of_type: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(found) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(found)} of {count} {of_type} frames: {found}"
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), remaining))
        if frame["type"] == of_type:
            found.append(frame)
    return found


async def _quiet(ws: ClientConnection, of_type: str, wait_s: float = 1.0) -> list[dict[str, Any]]:
    """Frames of ``of_type`` that arrive within ``wait_s`` (expected: none)."""
    found = []
    deadline = time.monotonic() + wait_s
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), remaining))
        except TimeoutError:
            break
        if frame["type"] == of_type:
            found.append(frame)
    return found


async def _until(ws: ClientConnection, of_type: str) -> list[dict[str, Any]]:
    """Every frame up to and including the first of ``of_type``."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE_S
    while not found or found[-1]["type"] != of_type:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {of_type} frame: {found}"
        found.append(orjson.loads(await asyncio.wait_for(ws.recv(), remaining)))
    return found


def _event(machine: str, plant: str, seq: int) -> AlarmEvent:
    return raised_alarm(
        machine,
        value=90.0 + seq,
        threshold=85.0,
        ts_ms=now_ms(),
        message=f"event {seq}",
        plant=plant,
        seq=seq,
    )


async def _send(producer: AIOKafkaProducer, topic: str, *events: AlarmEvent) -> None:
    for event in events:
        await producer.send_and_wait(topic, key=event.key(), value=event.encode())


async def test_plant_alarms_resume_from_a_cursor_without_loss_or_repeat(
    server: ServerThread, api_settings: ApiSettings, admin_key: str, producer: AIOKafkaProducer
) -> None:
    topic = api_settings.topics.alarms
    url = f"{server.ws_url}/live?api_key={admin_key}"
    # machines on different partitions (keys differ), one plant watched
    north = [f"n{i}" for i in range(6)]
    async with websockets.connect(url) as ws:
        await ws.send('{"action": "subscribe_alarms", "plant": "north"}')
        [subscribed] = await _frames(ws, "subscribed_alarms", 1)
        assert subscribed["plant"] == "north"
        await _send(producer, topic, _event(north[0], "north", 1), _event("s0", "south", 2))
        [first] = await _frames(ws, "alarm", 1)
        assert first["message"] == "event 1" and first["plant"] == "north"
        cursor = first["cursor"]
        assert await _quiet(ws, "alarm") == []  # the south event is not for this client

    missed = [_event(m, "north", 10 + i) for i, m in enumerate(north)]
    await _send(producer, topic, *missed, _event("s1", "south", 30))
    await asyncio.sleep(0.5)  # let the feed pass them before the reconnect

    async with websockets.connect(url) as ws:
        await ws.send(
            orjson.dumps(
                {"action": "subscribe_alarms", "plant": "north", "cursor": cursor}
            ).decode()
        )
        frames = await _until(ws, "replayed")
        replayed = [f for f in frames if f["type"] == "alarm"]
        assert frames[-1] == {"type": "replayed", "count": len(missed)}
        assert sorted(f["message"] for f in replayed) == sorted(e.message for e in missed)
        await _send(producer, topic, _event(north[0], "north", 99))
        [live] = await _frames(ws, "alarm", 1)
        assert live["message"] == "event 99"
        assert await _quiet(ws, "alarm") == []

        # resuming from the last cursor seen gives nothing more
    async with websockets.connect(url) as ws:
        await ws.send(
            orjson.dumps({"action": "subscribe_alarms", "cursor": live["cursor"]}).decode()
        )
        [done] = await _frames(ws, "replayed", 1)
        assert done["count"] == 0


async def test_aggregates_subscription_receives_window_frames(
    server: ServerThread, api_settings: ApiSettings, admin_key: str, producer: AIOKafkaProducer
) -> None:
    async with websockets.connect(f"{server.ws_url}/live?api_key={admin_key}") as ws:
        await ws.send('{"action": "subscribe_aggregates", "machine_id": 42}')
        await _frames(ws, "subscribed_aggregates", 1)
        start = (now_ms() // 60_000) * 60_000
        stats = SensorStats(count=3, min=1.0, max=3.0, mean=2.0, last=3.0, stddev=0.8)
        for machine in ("43", "42"):
            agg = WindowAggregate(
                machine_id=machine,
                window="1m",
                start_ms=start,
                end_ms=start + 60_000,
                sensors={"temperature_c": stats},
            )
            await producer.send_and_wait(
                api_settings.topics.aggregates, key=machine.encode(), value=agg.encode()
            )
        [frame] = await _frames(ws, "aggregate", 1)
        assert frame["machine_id"] == 42
        assert frame["sensors"]["temperature_c"]["mean"] == 2.0
        assert await _quiet(ws, "aggregate", 0.5) == []


async def _one_record_since(bootstrap: str, since: dict[TopicPartition, int]) -> bytes:
    found = await records_since(bootstrap, since, count=1, timeout_s=DEADLINE_S)
    assert found, "no record"
    value = found[0][1]
    assert value is not None
    return bytes(value)


async def test_ack_and_command_are_role_checked_and_answered(
    server: ServerThread, api_settings: ApiSettings, admin_key: str, producer: AIOKafkaProducer
) -> None:
    bootstrap = api_settings.kafka_bootstrap_servers
    async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE_S) as http:
        minted = await http.post(
            "/api/keys", headers={"X-API-Key": admin_key}, json={"name": "op", "role": "operator"}
        )
        operator = minted.json()["secret"]
        state = AlarmStateRecord(
            alarm_id="w1:temperature_c:high",
            machine_id="w1",
            sensor="temperature_c",
            rule="high",
            severity="high",
            state="active_unacknowledged",
            active=True,
            value=90.0,
            threshold=85.0,
            updated_ts_ms=now_ms(),
        )
        await producer.send_and_wait(
            api_settings.topics.alarm_state, key=state.key(), value=state.encode()
        )
        deadline = time.monotonic() + DEADLINE_S
        while (
            await http.get(f"/api/alarms/{state.alarm_id}", headers={"X-API-Key": admin_key})
        ).status_code != 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)

    ack = {"action": "ack", "alarm_id": state.alarm_id, "comment": "seen", "request_id": "r1"}
    async with websockets.connect(f"{server.ws_url}/live?api_key={operator}") as ws:
        await ws.send(orjson.dumps(ack).decode())
        [refused] = await _frames(ws, "result", 1)
        assert refused["status"] == 403 and refused["ok"] is False and refused["request_id"] == "r1"

    since = await end_offsets(bootstrap, api_settings.topics.alarm_actions)
    async with websockets.connect(f"{server.ws_url}/live?api_key={admin_key}") as ws:
        await ws.send(orjson.dumps(ack).decode())
        [accepted] = await _frames(ws, "result", 1)
        assert accepted["status"] == 202 and accepted["ok"] is True
        action = decode_alarm_action(await _one_record_since(bootstrap, since))
        assert action.action == "acknowledge" and action.alarm_id == state.alarm_id
        assert action.action_id == accepted["action_id"] and action.comment == "seen"

        await ws.send('{"action": "ack", "alarm_id": "zz:temperature_c:high"}')
        [missing] = await _frames(ws, "result", 1)
        assert missing["status"] == 404

        since = await end_offsets(bootstrap, api_settings.topics.commands)
        await ws.send(
            '{"action": "command", "machine_id": 42, "command": "stop", "request_id": "c1"}'
        )
        [sent] = await _frames(ws, "result", 1)
        assert sent["status"] == 202 and sent["request_id"] == "c1"
        command = decode_command(await _one_record_since(bootstrap, since))
        assert command.command_id == sent["command_id"] and command.action == "stop"

        await ws.send('{"action": "command", "machine_id": 42, "command": "setpoint"}')
        [bad] = await _frames(ws, "result", 1)
        assert bad["status"] == 422 and "setpoint" in bad["detail"]
