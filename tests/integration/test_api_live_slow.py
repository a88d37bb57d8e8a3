"""A client that stops reading is cut off; the others keep getting every alarm on time."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import orjson
import pytest
import websockets
from apiserver import ServerThread
from fastapi import FastAPI

from api.services import Services
from api.settings import ApiSettings
from contracts.alarms import AlarmEvent
from contracts.readings import Reading
from contracts.timefmt import now_ms
from kafka_edge.aio_clients import aio_producer
from kafka_edge.connection import KafkaConnection, ProducerSettings

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0
MAX_READINGS = 40_000
CHUNK = 1_000
# Wide readings make the slow client's socket buffers fill with fewer records.
SENSORS = {f"sensor_{i:02d}_value": float(i) for i in range(40)}


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(partitions=1, live_queue_frames=8)


def _small_buffer_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def _alarm(n: int) -> AlarmEvent:
    return AlarmEvent(
        alarm_id=f"42:temperature_c:high-{n}",
        event="raised",
        state="active_unacknowledged",
        machine_id="42",
        sensor="temperature_c",
        rule=f"high-{n}",
        severity="high",
        value=90.0,
        threshold=85.0,
        ts_ms=now_ms(),
        message=f"alarm {n}",
    )


async def test_slow_client_is_cut_off_and_fast_client_gets_every_alarm(
    server: ServerThread, app: FastAPI, admin_key: str
) -> None:
    services: Services = app.state.services
    topics = services.settings.topics
    url = f"{server.ws_url}/live?api_key={admin_key}"
    subscribe = orjson.dumps({"action": "subscribe", "machine_id": 42}).decode()
    producer = aio_producer(
        KafkaConnection.from_settings(services.settings), ProducerSettings(linger_ms=20)
    )
    await producer.start()
    slow = await websockets.connect(
        url,
        sock=_small_buffer_socket(server.port),
        max_queue=1,
        max_size=None,
        compression=None,
    )
    fast = await websockets.connect(url, max_size=None)
    alarms_seen: list[str] = []
    readings_seen = 0

    async def read_fast() -> None:
        nonlocal readings_seen
        async for message in fast:
            frame = orjson.loads(message)
            if frame["type"] == "alarm":
                alarms_seen.append(frame["message"])
            elif frame["type"] == "reading":
                readings_seen += 1

    try:
        for ws in (slow, fast):
            await ws.send(subscribe)
        await slow.recv()
        reader = asyncio.create_task(read_fast())
        deadline = time.monotonic() + DEADLINE_S
        sent_alarms = 0
        sent_readings = 0
        while services.hub.clients_overflowed == 0:
            assert time.monotonic() < deadline, "slow client never cut off"
            assert sent_readings < MAX_READINGS, "slow client never cut off"
            for _ in range(CHUNK):
                reading = Reading(machine_id="42", ts_ms=now_ms(), values=SENSORS)
                await producer.send(topics.readings, key=reading.key(), value=reading.encode())
            for _ in range(5):
                event = _alarm(sent_alarms)
                await producer.send(topics.alarms, key=event.key(), value=event.encode())
                sent_alarms += 1
            await producer.flush()
            sent_readings += CHUNK
            await asyncio.sleep(0.2)

        while len(alarms_seen) < sent_alarms and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        slow_frames = 0
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(slow.recv(), DEADLINE_S)
                slow_frames += 1

        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013
        assert closed.value.rcvd.reason.startswith("too slow")
        assert 0 < slow_frames < sent_readings
        assert alarms_seen == [f"alarm {n}" for n in range(sent_alarms)]
        assert readings_seen > 0
        assert services.hub.client_count == 1
        reader.cancel()
    finally:
        await producer.stop()
        await slow.close()
        await fast.close()
