"""``subscribe_overview`` on ``/live`` against real Kafka: a plant or every machine, at a
chosen rate, coalesced by the server, beside per-machine subscriptions."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import websockets
from aiokafka import AIOKafkaProducer
from apiserver import ServerThread
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from websockets.asyncio.client import ClientConnection

from api.settings import ApiSettings
from contracts.readings import Reading
from contracts.timefmt import format_ts, now_ms
from pipeline.storage.line_protocol import reading_line

pytestmark = pytest.mark.integration

DEADLINE_S = 15.0
MACHINES = 60
ROUNDS = 10


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(partitions=3)


async def _next(ws: ClientConnection, of_type: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {of_type} frame within {DEADLINE_S}s"
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), remaining))
        if frame["type"] == of_type:
            return frame


def _plant(i: int) -> str:
    return "north" if i % 2 else "south"


async def _produce_rounds(producer: AIOKafkaProducer, topic: str) -> None:
    """ROUNDS readings of each of MACHINES machines; the last round's temperature is 100 + i."""
    base = now_ms()
    for r in range(ROUNDS):
        for i in range(MACHINES):
            reading = Reading(
                machine_id=str(1000 + i),
                ts_ms=base + r,
                values={
                    "temperature_c": (100.0 + i) if r == ROUNDS - 1 else float(r),
                    "power_kw": 1.0,
                },
                seq=r + 1,
                source="test",
                plant=_plant(i),
                line="1",
            )
            await producer.send(topic, key=reading.key(), value=reading.encode())
    await producer.flush()


async def _collect_until_complete(
    ws: ClientConnection, want: dict[int, float]
) -> list[dict[str, Any]]:
    """Overview frames until every machine of ``want`` showed its final temperature."""
    seen: dict[int, float] = {}
    frames: list[dict[str, Any]] = []
    while any(seen.get(m) != t for m, t in want.items()):
        frame = await _next(ws, "overview")
        frames.append(frame)
        for machine in frame["machines"]:
            seen[machine["machine_id"]] = machine["temperature_c"]
    return frames


async def test_plant_overview_coalesces_at_its_rate_beside_a_machine_subscription(
    server: ServerThread, api_settings: ApiSettings, admin_key: str, producer: AIOKafkaProducer
) -> None:
    url = f"{server.ws_url}/live?api_key={admin_key}"
    async with (
        websockets.connect(url) as north,
        websockets.connect(url) as everything,
        websockets.connect(url) as single,
    ):
        await north.send(
            '{"action": "subscribe_overview", "plant": "north", "interval_ms": 500,'
            ' "sensors": ["temperature"]}'
        )
        ack = await _next(north, "subscribed_overview")
        assert ack == {
            "type": "subscribed_overview",
            "plant": "north",
            "interval_ms": 500,
            "sensors": ["temperature"],
        }
        assert (await _next(north, "overview"))["snapshot"] is True
        await everything.send('{"action": "subscribe_overview"}')
        assert (await _next(everything, "subscribed_overview"))["interval_ms"] == 1000
        assert (await _next(everything, "overview"))["snapshot"] is True
        await single.send('{"action": "subscribe", "machine_id": 1001}')
        await _next(single, "subscribed")

        started = time.monotonic()
        await _produce_rounds(producer, api_settings.topics.readings)
        final = {1000 + i: 100.0 + i for i in range(MACHINES)}
        north_want = {m: t for m, t in final.items() if _plant(m - 1000) == "north"}
        north_frames = await _collect_until_complete(north, north_want)
        all_frames = await _collect_until_complete(everything, final)
        elapsed = time.monotonic() - started

        north_entries = [m for f in north_frames for m in f["machines"]]
        assert {m["plant"] for m in north_entries} == {"north"}
        assert all(
            set(m) <= {"machine_id", "ts", "seq", "temperature_c", "plant", "line"}
            for m in north_entries
        ), north_entries[0]
        # Coalesced: 300 north readings arrived, each machine appears at most once a frame,
        # and no more frames than the rate allows.
        for frame in north_frames + all_frames:
            ids = [m["machine_id"] for m in frame["machines"]]
            assert len(ids) == len(set(ids))
        assert len(north_entries) < MACHINES // 2 * ROUNDS
        assert len(north_frames) <= elapsed / 0.5 + 1
        assert len(all_frames) <= elapsed / 1.0 + 1
        assert "power_kw" in all_frames[-1]["machines"][0]

        # The machine subscription still gets every reading of its machine.
        temps = [(await _next(single, "reading"))["temperature_c"] for _ in range(ROUNDS)]
        assert temps == [float(r) for r in range(ROUNDS - 1)] + [101.0]

        # A new subscription starts with a snapshot of the latest values.
        await north.send('{"action": "subscribe_overview", "plant": "north", "interval_ms": 250}')
        snapshot = await _next(north, "overview")
        assert snapshot["snapshot"] is True
        assert {m["machine_id"]: m["temperature_c"] for m in snapshot["machines"]} == north_want
        await north.send('{"action": "unsubscribe_overview"}')
        assert (await _next(north, "unsubscribed_overview")) == {"type": "unsubscribed_overview"}


async def test_bad_overview_request_names_the_field(server: ServerThread, admin_key: str) -> None:
    async with websockets.connect(f"{server.ws_url}/live?api_key={admin_key}") as ws:
        await ws.send('{"action": "subscribe_overview", "interval_ms": 10}')
        error = await _next(ws, "error")
        assert error["detail"] == "interval_ms: must be an integer from 250 to 60000"


async def test_rest_latest_of_every_machine_of_a_plant(
    server: ServerThread, api_settings: ApiSettings, admin_key: str
) -> None:
    """``GET /api/latest`` fills an overview's tiles before the first live frame."""
    plant = f"p{uuid.uuid4().hex[:8]}"
    base = now_ms() - 120_000
    readings = [
        Reading(
            machine_id="3",
            ts_ms=base,
            values={"temperature_c": 60.0, "power_kw": 2.0},
            plant=plant,
            line="1",
        ),
        Reading(
            machine_id="3", ts_ms=base + 1000, values={"temperature_c": 61.0}, plant=plant, line="1"
        ),
        Reading(
            machine_id="20", ts_ms=base + 500, values={"temperature_c": 70.0}, plant=plant, line="2"
        ),
        Reading(machine_id="21", ts_ms=base, values={"temperature_c": 1.0}, plant="elsewhere"),
    ]
    async with InfluxDBClientAsync(
        url=api_settings.influx_url,
        token=api_settings.influx_token.get_secret_value(),
        org=api_settings.influx_org,
    ) as client:
        await client.write_api().write(
            bucket=api_settings.influx_bucket,
            record="\n".join(reading_line(r) for r in readings),
            write_precision="ms",
        )
    async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": admin_key}) as http:
        response = await http.get("/api/latest", params={"plant": plant, "start": "-10m"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "plant": plant,
        "machines": [
            {
                "machine_id": 3,
                "plant": plant,
                "line": "1",
                "ts": format_ts(base + 1000),
                "values": {
                    "power_kw": {"value": 2.0, "ts": format_ts(base)},
                    "temperature_c": {"value": 61.0, "ts": format_ts(base + 1000)},
                },
            },
            {
                "machine_id": 20,
                "plant": plant,
                "line": "2",
                "ts": format_ts(base + 500),
                "values": {"temperature_c": {"value": 70.0, "ts": format_ts(base + 500)}},
            },
        ],
    }
