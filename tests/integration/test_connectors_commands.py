"""Commands through the real broker to a real pymodbus server (the simulator): a stop
reaches the machine's run register and its spindle runs down; a setpoint is written in
range; what the configuration does not allow is refused with a reason. The simulated
factory's writable coil and float setpoint are written with function codes 5 and 16."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import AsyncModbusTcpClient

from connectors.app import run_connector
from connectors.config.devices import Device, load_devices, parse_devices
from connectors.config.settings import ConnectorSettings
from connectors.modbus.decoding import decode
from connectors.simulator.factory import factory_devices
from connectors.simulator.server import SimulatorServer
from contracts.commands import Command, CommandResult, decode_command_result
from contracts.readings import decode_reading
from contracts.settings import CommonSettings
from contracts.timefmt import now_ms
from infra.ports import free_port
from kafka_edge.connection import KafkaConnection, ProducerSettings
from kafka_edge.sync_clients import kafka_observer, kafka_producer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def _served_and_connected(
    device: Device, common: CommonSettings, spool_dir: Path
) -> AsyncIterator[tuple[SimulatorServer, ConnectorSettings, Callable[..., Any]]]:
    """The simulator serving ``device`` and a connector polling it; yields the server, the
    connector's settings and a function that sends commands to the commands topic."""
    settings = ConnectorSettings(
        **common.model_dump(),
        connector_id=f"commands-{uuid.uuid4().hex[:6]}",
        connector_spool_dir=spool_dir,
        connector_linger_ms=5,
        connector_flush_timeout_s=10.0,
    )
    server = SimulatorServer([device], tick_s=0.1, seed=7, overheat_every_s=0)
    await server.start()
    sim_stop = asyncio.Event()
    sim_task = asyncio.create_task(server.run(sim_stop))
    stop = asyncio.Event()
    task = asyncio.create_task(run_connector(settings, [device], stop=stop))
    producer = kafka_producer(KafkaConnection.from_settings(common), ProducerSettings())

    def send(*commands: Command) -> None:
        for command in commands:
            producer.send(settings.topics.commands, key=command.key(), value=command.encode())
        producer.flush(10)

    try:
        yield server, settings, send
    finally:
        producer.close()
        stop.set()
        await task
        sim_stop.set()
        await sim_task


def _command(action: str, **fields: Any) -> Command:
    return Command(
        command_id=uuid.uuid4().hex,
        machine_id="42",
        action=action,
        requested_by="engineer@example.com",
        reason="integration test",
        ts_ms=now_ms(),
        **fields,
    )


def _results(bootstrap: str, topic: str, want: set[str], timeout_s: float) -> dict[str, Any]:
    consumer = kafka_observer(KafkaConnection.plain(bootstrap), topic)
    found: dict[str, CommandResult] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while not want <= set(found) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                for record in batch:
                    result = decode_command_result(record.value)
                    assert record.key == b"42"
                    found[result.command_id] = result
    finally:
        consumer.close()
    return found


async def _held(port: int, *reads: tuple[str, int, int]) -> list[list[Any]]:
    """What the device holds now, read with a client of the test's own: the registers (or
    coils) of each ``(table, address, count)``."""
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    held: list[list[Any]] = []
    try:
        for table, address, count in reads:
            if table == "coil":
                answer = await client.read_coils(address, count=count, device_id=1)
                held.append(answer.bits[:count])
            else:
                answer = await client.read_holding_registers(address, count=count, device_id=1)
                held.append(answer.registers)
    finally:
        client.close()
    return held


def _readings_until(
    bootstrap: str, topic: str, done: Callable[[dict[str, float]], bool], *, timeout_s: float
) -> dict[str, float]:
    """The latest value of every tag, read from the topic's start until ``done`` holds."""
    consumer = kafka_observer(KafkaConnection.plain(bootstrap), topic)
    latest: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while not done(latest) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                for record in batch:
                    latest.update(decode_reading(record.value).values)
    finally:
        consumer.close()
    return latest


def _spindle_values(
    bootstrap: str, topic: str, *, until_running: bool = False, timeout_s: float
) -> list[float]:
    """Spindle speeds from the readings until it ran (``until_running``) or until three
    readings in a row show it stopped."""
    consumer = kafka_observer(KafkaConnection.plain(bootstrap), topic)
    values: list[float] = []
    deadline = time.monotonic() + timeout_s

    def done() -> bool:
        if until_running:
            return bool(values) and values[-1] > 100.0
        return values[-3:] == [0.0, 0.0, 0.0]

    try:
        while time.monotonic() < deadline and not done():
            for batch in consumer.poll(timeout_ms=200).values():
                values.extend(decode_reading(r.value).values["spindle_rpm"] for r in batch)
    finally:
        consumer.close()
    return values


async def test_commands_are_written_or_refused_and_reported(
    common_settings: CommonSettings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    (example,) = load_devices(REPO / "devices.example.yaml")
    device = example.model_copy(update={"port": port, "poll_interval_s": 0.2})
    commands = {
        "stop": _command("stop"),
        "setpoint": _command("setpoint", target="feed_override_pct", value=120.0),
        "not_writable": _command("setpoint", target="temperature_c", value=20.0),
        "out_of_range": _command("setpoint", target="feed_override_pct", value=500.0),
        "expired": _command("start", expires_ts_ms=now_ms() - 1),
    }
    async with _served_and_connected(device, common_settings, tmp_path) as (server, settings, send):
        running = await asyncio.to_thread(
            _spindle_values,
            kafka_bootstrap,
            settings.topics.readings,
            until_running=True,
            timeout_s=40.0,
        )
        send(*commands.values())
        ids = {c.command_id for c in commands.values()}
        results = await asyncio.to_thread(
            _results, kafka_bootstrap, settings.topics.command_results, ids, 30.0
        )
        run_register, feed = await _held(port, ("holding", 20, 1), ("holding", 9, 1))
        spindle = await asyncio.to_thread(
            _spindle_values, kafka_bootstrap, settings.topics.readings, timeout_s=20.0
        )

    by_name = {name: results[c.command_id] for name, c in commands.items()}
    assert by_name["stop"].status == "succeeded"
    assert "function code 6" in by_name["stop"].reason
    assert by_name["stop"].executed_by == settings.connector_id
    assert run_register == [0]
    assert server.model("42").running is False
    # The spindle was turning before the stop, and stopped after it.
    assert running[-1] > 100.0
    assert spindle[-3:] == [0.0, 0.0, 0.0]

    assert by_name["setpoint"].status == "succeeded"
    assert feed == [120]

    assert by_name["not_writable"].status == "refused"
    assert "temperature_c is not a writable tag" in by_name["not_writable"].reason
    assert by_name["out_of_range"].status == "refused"
    assert "outside 0..150" in by_name["out_of_range"].reason
    assert by_name["expired"].status == "refused"
    assert "expired" in by_name["expired"].reason


async def test_the_factory_coil_and_float_setpoint_are_written_with_fc5_and_fc16(
    common_settings: CommonSettings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    # The devices file `make run` generates, for one machine, polled every 0.2 s.
    entries = factory_devices(
        plants=1, machines=1, host="127.0.0.1", ports=[port], poll_interval_s=0.2
    )
    [device] = parse_devices(yaml.safe_dump({"devices": entries}), source="factory")
    coil = _command("setpoint", target="coolant_on", value=1.0)
    setpoint = _command("setpoint", target="coolant_setpoint_c", value=21.75)
    async with _served_and_connected(device, common_settings, tmp_path) as (_, settings, send):
        before = await asyncio.to_thread(
            _readings_until,
            kafka_bootstrap,
            settings.topics.readings,
            lambda latest: "coolant_setpoint_c" in latest,
            timeout_s=30.0,
        )
        send(coil, setpoint)
        results = await asyncio.to_thread(
            _results,
            kafka_bootstrap,
            settings.topics.command_results,
            {coil.command_id, setpoint.command_id},
            30.0,
        )
        coils, holding = await _held(port, ("coil", 1, 1), ("holding", 10, 2))
        # The connector reads back what it wrote, and publishes it.
        after = await asyncio.to_thread(
            _readings_until,
            kafka_bootstrap,
            settings.topics.readings,
            lambda latest: (
                latest.get("coolant_on") == 1.0 and latest.get("coolant_setpoint_c") == 21.75
            ),
            timeout_s=20.0,
        )

    # What the simulator starts with: the coil off, the setpoint in the middle of 15..30.
    assert (before["coolant_on"], before["coolant_setpoint_c"]) == (0.0, 22.5)
    assert results[coil.command_id].status == "succeeded", results[coil.command_id].reason
    assert "to coil 1 (function code 5)" in results[coil.command_id].reason
    assert results[setpoint.command_id].status == "succeeded", results[setpoint.command_id]
    assert "to holding 10 (function code 16)" in results[setpoint.command_id].reason
    assert coils == [True]
    assert decode(holding, data_type="float32") == 21.75
    assert (after["coolant_on"], after["coolant_setpoint_c"]) == (1.0, 21.75)
