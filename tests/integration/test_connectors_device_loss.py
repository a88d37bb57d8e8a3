"""The whole connector (``run_connector``: pollers, spool, forwarder, the session's real
broker) when its device goes away: its own ``comm_loss`` reading reaches Kafka, and it
reconnects to a device that refuses connections after delays that grow and are jittered
as the retry policy says. Real pymodbus simulator, real TCP."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest
from modbustools import lathe_device, serving, until

from connectors.app import run_connector
from connectors.config.devices import Device
from connectors.config.settings import ConnectorSettings
from contracts.readings import Reading, decode_reading
from contracts.settings import CommonSettings
from infra.ports import free_port
from kafka_edge.connection import KafkaConnection
from kafka_edge.sync_clients import kafka_observer

pytestmark = pytest.mark.integration

TAGS = ("temperature_c", "spindle_rpm")


def _device(port: int) -> Device:
    return lathe_device(port, timeout_s=0.3)


def _settings(common: CommonSettings, spool_dir: Path, **backoff: float) -> ConnectorSettings:
    return ConnectorSettings(
        **common.model_dump(),
        connector_id=f"loss-{uuid.uuid4().hex[:6]}",
        connector_spool_dir=spool_dir,
        connector_linger_ms=5,
        connector_flush_timeout_s=10.0,
        **backoff,
    )


@contextlib.asynccontextmanager
async def _connector(settings: ConnectorSettings, devices: Sequence[Device]) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_connector(settings, devices, stop=stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def _readings_until(
    bootstrap: str, topic: str, done: Callable[[list[Reading]], bool], *, timeout_s: float
) -> list[Reading]:
    """The topic's readings from its start, read until ``done(readings)`` holds."""
    consumer = kafka_observer(KafkaConnection.plain(bootstrap), topic)
    readings: list[Reading] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(readings):
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up after {timeout_s} s with {len(readings)} readings")
            for batch in consumer.poll(timeout_ms=200).values():
                for record in batch:
                    assert record.key == b"42"
                    readings.append(decode_reading(record.value))
    finally:
        consumer.close()
    return readings


def _lost(reading: Reading) -> bool:
    return set(reading.quality.values()) == {"comm_loss"}


async def test_a_device_that_stops_answering_gives_one_comm_loss_reading_in_kafka(
    common_settings: CommonSettings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    device = _device(free_port())
    settings = _settings(
        common_settings, tmp_path, connector_backoff_initial_s=0.1, connector_backoff_max_s=0.2
    )
    topic = settings.topics.readings
    async with serving([device]) as server, _connector(settings, [device]):
        good = await asyncio.to_thread(
            _readings_until, kafka_bootstrap, topic, lambda rs: len(rs) >= 3, timeout_s=30
        )
        await server.shutdown()
        await asyncio.to_thread(
            _readings_until, kafka_bootstrap, topic, lambda rs: any(map(_lost, rs)), timeout_s=30
        )
        # Reconnect attempts go on while the device is away; none of them adds a reading.
        await asyncio.sleep(1.0)
    readings = await asyncio.to_thread(
        _readings_until, kafka_bootstrap, topic, lambda rs: any(map(_lost, rs)), timeout_s=10
    )
    assert all(set(r.quality.values()) == {"good"} for r in good[:3])
    lost = [r for r in readings if _lost(r)]
    assert len(lost) == 1, [r.quality for r in readings]
    [loss] = lost
    assert readings[-1] is loss, "nothing after the comm_loss reading while the device is away"
    before = [r for r in readings if r.seq < loss.seq]
    assert loss.seq == before[-1].seq + 1
    assert loss.quality == {name: "comm_loss" for name in TAGS}
    # The values are the last good value of each tag.
    assert loss.values == {
        name: next(r.values[name] for r in reversed(before) if name in r.values) for name in TAGS
    }
    assert loss.ts_ms >= before[-1].ts_ms


class _Failures(logging.Handler):
    """When each failed attempt was logged, and the pause the poller drew after it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[tuple[float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("modbus transport failed"):
            assert isinstance(record.args, tuple)
            self.seen.append((time.monotonic(), float(record.args[3])))  # type: ignore[arg-type]


async def test_reconnects_to_a_refusing_device_wait_growing_jittered_delays(
    common_settings: CommonSettings, tmp_path: Path
) -> None:
    # Nothing listens on the port: every connect is refused at once, so the time between
    # two failures is the pause the connector takes.
    device = _device(free_port())
    settings = _settings(
        common_settings, tmp_path, connector_backoff_initial_s=0.1, connector_backoff_max_s=0.8
    )
    failures = _Failures()
    poller_log = logging.getLogger("connectors.modbus.poller")
    poller_log.addHandler(failures)
    try:
        async with _connector(settings, [device]):
            await until(lambda: len(failures.seen) >= 8, timeout_s=30)
    finally:
        poller_log.removeHandler(failures)
    seen = failures.seen[:8]
    drawn = [pause for _, pause in seen[:7]]
    waited = [b - a for (a, _), (b, _) in itertools.pairwise(seen)]
    # Doubling from 0.1 s to the 0.8 s cap; each pause drawn from the upper half.
    ceilings = [0.1, 0.2, 0.4, 0.8, 0.8, 0.8, 0.8]
    for pause, ceiling in zip(drawn, ceilings, strict=True):
        assert ceiling / 2 - 1e-9 <= pause <= ceiling + 1e-9, (drawn, ceilings)
    # The pause is taken: a loop without a delay would fail again within milliseconds.
    # (The upper bound allows for a loaded machine.)
    for wait, pause in zip(waited, drawn, strict=True):
        assert pause - 0.01 <= wait <= pause + 0.4, (waited, drawn)
    assert sum(waited[4:]) / 3 > 3 * waited[0], f"the delay grows: {waited}"
    assert max(waited) <= 0.8 + 0.4, f"the delay stops growing at the cap: {waited}"
    # Jitter: the pauses are not the bare doubling, and the capped ones differ.
    assert any(pause < 0.9 * ceiling for pause, ceiling in zip(drawn, ceilings, strict=True))
    assert len({round(pause, 4) for pause in drawn[3:]}) > 1, drawn
