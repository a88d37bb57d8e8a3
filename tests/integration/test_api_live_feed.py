"""The live feed against a real broker: an alarm event reaches the hub as soon as it is
written, not after the readings fetched before it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import pytest
from pipelinetools import raised_alarm

from api.auth.roles import Identity, Role
from api.live.feed import LiveFeed
from api.live.hub import LiveHub
from contracts.readings import Reading
from contracts.settings import CommonSettings
from contracts.timefmt import now_ms
from kafka_edge.connection import KafkaConnection, ProducerSettings
from kafka_edge.sync_clients import kafka_producer

pytestmark = pytest.mark.integration

DEADLINE_S = 30.0
# More readings than one fetch of a partition brings (1 MiB): the backlog takes the feed a
# few fetches to read.
BACKLOG = 40_000
SENSORS = {f"sensor_{i:02d}_value": float(i) for i in range(8)}


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {DEADLINE_S} s"
        await asyncio.sleep(0.001)


async def test_an_alarm_overtakes_a_backlog_of_readings(
    make_settings: Callable[..., CommonSettings],
) -> None:
    settings = make_settings(partitions=1)
    topics = settings.topics
    kafka = KafkaConnection.from_settings(settings)
    hub = LiveHub(queue_frames=4 * BACKLOG)  # holds every frame: none is dropped
    client = hub.register(Identity(key_id="k", name="screen", role=Role.operator))
    hub.subscribe(client, "42", ())
    feed = LiveFeed(
        kafka=kafka, readings_topic=topics.readings, alarms_topic=topics.alarms, hub=hub
    )
    # Synchronous: while it writes, this loop and so the feed read nothing, and the
    # readings wait in Kafka as a backlog.
    producer = kafka_producer(kafka, ProducerSettings(linger_ms=20))
    await feed.start(timeout_s=DEADLINE_S)
    try:
        for _ in range(BACKLOG):
            reading = Reading(machine_id="42", ts_ms=now_ms(), values=SENSORS)
            producer.send(topics.readings, key=reading.key(), value=reading.encode())
        producer.flush(DEADLINE_S)
        await _until(lambda: hub.readings_published > 0, "the feed started on the backlog")
        behind = hub.readings_published
        event = raised_alarm("42", value=90.0, threshold=85.0, ts_ms=now_ms(), message="overheat")
        producer.send(topics.alarms, key=event.key(), value=event.encode())
        producer.flush(DEADLINE_S)
        await _until(lambda: hub.alarms_published == 1, "the alarm reached the hub")
        await _until(lambda: hub.readings_published == BACKLOG, "the backlog was read")

        frames = []
        while (frame := client.queue.pop()) is not None:
            frames.append(orjson.loads(frame))
        types = [f["type"] for f in frames]
        assert types.count("reading") == BACKLOG and types.count("alarm") == 1
        # Readings dispatched between the alarm's write and its dispatch: a few batches of
        # the readings consumer at most, not the backlog fetched before the alarm.
        overtaken_by = types.index("alarm") - behind
        assert overtaken_by < BACKLOG // 8, (
            f"the alarm waited for {overtaken_by} of the {BACKLOG - behind} readings ahead of it"
        )
    finally:
        producer.close()
        await feed.stop()
