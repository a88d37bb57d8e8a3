"""Connector polling against a bare pymodbus loop, and its producer against aiokafka.

Polling: one simulator process serves 10 devices (10 ports), each scan one read of 125
holding registers (62 float32 values and one uint16). In this process, for the same
duration and in alternating rounds, (a) a bare loop of 10 ``AsyncModbusTcpClient`` reads
the same 125 registers as fast as it can, and (b) 10 connector ``DevicePoller``s scan the
same devices back to back (``scan_once``: read, decode, build the reading with qualities,
sequence numbers and deadband check) and encode every reading to its wire bytes, as the
publisher would. Only the poll interval's sleep is left out, so both sides run flat out.

Producing: the same readings (encoded once) are sent with the connector's kafka-python
producer (its own settings: idempotent, ``acks=all``, lz4, linger) and with an aiokafka
producer set up the same way, each to a topic of its own, then flushed.

Standalone (polling only, no Kafka needed)::

    python -m bench.scenarios.connector_polling [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from bench.core import Figure, ScenarioContext
from bench.stack import terminate, wait_modbus_listening
from connectors.config.devices import Device, load_devices
from connectors.config.settings import ConnectorSettings
from connectors.forwarding.producer import build_kafka_producer
from connectors.modbus.poller import DevicePoller
from contracts.readings import Reading
from infra.ports import free_port

NAME = "connector_polling"
TITLE = "Connector: polling vs a bare pymodbus loop; kafka-python producer vs aiokafka"

DEVICES = 10
FLOATS = 62
REGISTERS = 2 * FLOATS + 1
POLL_GOAL_RATIO = 0.8
POLL_GOAL_READS_S = 2000.0
PRODUCE_GOAL_RATIO = 0.4


def devices_yaml(ports: list[int]) -> str:
    """10 devices, each 62 float32 values and one uint16 in 125 holding registers."""
    lines = ["devices:"]
    for i, port in enumerate(ports):
        lines += [
            f"  - machine_id: bench-{i}",
            "    host: 127.0.0.1",
            f"    port: {port}",
            "    poll_interval_s: 0.01",
            "    registers:",
        ]
        lines += [
            f"      - {{name: value_{k}_c, address: {2 * k}, type: float32}}" for k in range(FLOATS)
        ]
        lines.append(f"      - {{name: status_code, address: {2 * FLOATS}, type: uint16}}")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def simulator(work_dir: Path) -> Iterator[tuple[Device, ...]]:
    """The simulator in its own process, serving the bench devices; stopped on exit."""
    ports = [free_port() for _ in range(DEVICES)]
    path = work_dir / "connector_polling_devices.yaml"
    path.write_text(devices_yaml(ports), encoding="utf-8")
    devices = load_devices(path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.simulator",
            "--devices",
            str(path),
            "--tick-s",
            "0.2",
            "--overheat-every-s",
            "0",
            "--log-level",
            "WARNING",
        ],
        env=os.environ.copy(),
    )
    try:
        asyncio.run(wait_modbus_listening([(d.host, d.port) for d in devices], timeout_s=20.0))
        yield devices
    finally:
        terminate(proc, timeout_s=10)


@dataclass(frozen=True, slots=True)
class Rate:
    """Reads per second of wall-clock time, and per second of this process's CPU time."""

    per_s: float
    per_cpu_s: float


async def bare_loop(devices: tuple[Device, ...], *, duration_s: float) -> Rate:
    """Reads/s of 10 plain pymodbus clients reading 125 registers in a loop."""
    clients = [AsyncModbusTcpClient(d.host, port=d.port, retries=0) for d in devices]
    for client in clients:
        await client.connect()
    count = 0
    end = time.perf_counter() + duration_s

    async def one(client: AsyncModbusTcpClient, device_id: int) -> None:
        nonlocal count
        while time.perf_counter() < end:
            response = await client.read_holding_registers(0, count=REGISTERS, device_id=device_id)
            if not response.isError():
                count += 1

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(c, d.device_id) for c, d in zip(clients, devices, strict=True)))
    elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    for client in clients:
        client.close()
    return Rate(count / elapsed, count / cpu_s)


async def connector_loop(devices: tuple[Device, ...], *, duration_s: float) -> Rate:
    """Reads/s of 10 connector pollers scanning back to back, each reading encoded."""
    encoded = 0

    def sink(reading: Reading) -> None:
        nonlocal encoded
        reading.encode()
        encoded += 1

    pollers = [DevicePoller(d, sink=sink) for d in devices]
    end = time.perf_counter() + duration_s

    async def one(poller: DevicePoller) -> None:
        while time.perf_counter() < end:
            await poller.scan_once()

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(p) for p in pollers))
    elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    for poller in pollers:
        poller.close()
    return Rate(encoded / elapsed, encoded / cpu_s)


def measure_polling(work_dir: Path, *, seconds: float, rounds: int = 4) -> tuple[Rate, Rate]:
    """(connector, bare): medians over ``rounds`` back-to-back pairs.

    The machine is shared, so its load drifts; each pair runs the two sides one right
    after the other (alternating which goes first), and the medians are kept. Reads per
    CPU-second of the measuring process are the steadier figure under a shared load (the
    simulator runs in its own process and is not counted on either side).
    """
    connector: list[Rate] = []
    bare: list[Rate] = []
    with simulator(work_dir) as devices:
        for i in range(rounds):
            if i % 2 == 0:
                bare.append(asyncio.run(bare_loop(devices, duration_s=seconds)))
                connector.append(asyncio.run(connector_loop(devices, duration_s=seconds)))
            else:
                connector.append(asyncio.run(connector_loop(devices, duration_s=seconds)))
                bare.append(asyncio.run(bare_loop(devices, duration_s=seconds)))
    return _median(connector), _median(bare)


def _median(rates: list[Rate]) -> Rate:
    return Rate(
        statistics.median(r.per_s for r in rates), statistics.median(r.per_cpu_s for r in rates)
    )


def _sample_readings(count: int) -> list[tuple[bytes, bytes]]:
    values = {f"value_{k}_c": 20.0 + k * 0.37 + (k % 7) * 0.001 for k in range(FLOATS)}
    out = []
    for i in range(count):
        reading = Reading(
            machine_id=f"bench-{i % DEVICES}",
            ts_ms=1_766_241_000_000 + i,
            values={**values, "status_code": float(i % 3)},
            quality=dict.fromkeys((*values, "status_code"), "good"),
            seq=i // DEVICES + 1,
            source="modbus://127.0.0.1:5020/1",
        )
        out.append((reading.key(), reading.encode()))
    return out


def measure_producers(settings: ConnectorSettings, *, count: int) -> tuple[float, float]:
    """(kafka-python records/s, aiokafka records/s) for the same records."""
    records = _sample_readings(count)
    topic = settings.topics.readings
    producer: Any = build_kafka_producer(settings)
    producer.partitions_for(topic)
    started = time.perf_counter()
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush(60)
    kafka_python_s = time.perf_counter() - started
    producer.close(10)
    aiokafka_s = asyncio.run(_aiokafka_send(settings, records))
    return count / kafka_python_s, count / aiokafka_s


async def _aiokafka_send(settings: ConnectorSettings, records: list[tuple[bytes, bytes]]) -> float:
    from aiokafka import AIOKafkaProducer

    # bare baseline: aiokafka's producer as it comes, with the connector's settings
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        compression_type=settings.connector_compression_type,
        linger_ms=settings.connector_linger_ms,
        max_batch_size=settings.connector_batch_size_bytes,
    )
    await producer.start()
    topic = settings.topics.readings
    try:
        await producer.partitions_for(topic)
        started = time.perf_counter()
        for key, value in records:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
        return time.perf_counter() - started
    finally:
        await producer.stop()


def run(ctx: ScenarioContext) -> list[Figure]:
    seconds = 2.0 if ctx.quick else 4.0
    ctx.progress("connector polling vs bare pymodbus loop")
    connector, bare = measure_polling(ctx.work_dir, seconds=seconds)
    ratio = connector.per_s / bare.per_s if bare.per_s else 0.0
    figures = [
        Figure(
            scenario=NAME,
            name=f"connector polling, {DEVICES} devices x {REGISTERS} registers",
            value=connector.per_s,
            unit="reads/s",
            baseline_name="bare pymodbus AsyncModbusTcpClient loop",
            baseline_value=bare.per_s,
            goal=f">= {POLL_GOAL_RATIO}x and >= {POLL_GOAL_READS_S:.0f} reads/s",
            met=ratio >= POLL_GOAL_RATIO and connector.per_s >= POLL_GOAL_READS_S,
            note=f"{connector.per_s * (FLOATS + 1):.0f} values/s",
        ),
        Figure(
            scenario=NAME,
            name="connector polling per CPU-second of the polling process",
            value=connector.per_cpu_s,
            unit="reads/CPU-s",
            baseline_name="bare pymodbus loop per CPU-second",
            baseline_value=bare.per_cpu_s,
            goal=f">= {POLL_GOAL_RATIO}x",
            met=connector.per_cpu_s >= POLL_GOAL_RATIO * bare.per_cpu_s,
            note="steadier than wall-clock rates on a shared machine",
        ),
    ]
    ctx.progress("connector kafka-python producer vs aiokafka")
    common = ctx.fresh_settings()
    settings = ConnectorSettings.model_validate(
        {**common.model_dump(), "connector_id": "bench-connector"}
    )
    count = 5_000 if ctx.quick else 30_000
    kafka_python, aiokafka = measure_producers(settings, count=count)
    produce_ratio = kafka_python / aiokafka if aiokafka else 0.0
    figures.append(
        Figure(
            scenario=NAME,
            name="connector producer (kafka-python), readings of 63 values",
            value=kafka_python,
            unit="records/s",
            baseline_name="aiokafka producer, same settings and records",
            baseline_value=aiokafka,
            goal=f">= {PRODUCE_GOAL_RATIO}x",
            met=produce_ratio >= PRODUCE_GOAL_RATIO,
        )
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scenarios.connector_polling")
    parser.add_argument("--seconds", type=float, default=3.0, help="per round, 4 rounds")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp"))  # noqa: S108
    args = parser.parse_args(argv)
    connector, bare = measure_polling(args.work_dir, seconds=args.seconds)
    print(
        f"connector {connector.per_s:.0f} reads/s, bare pymodbus {bare.per_s:.0f} reads/s, "
        f"ratio {connector.per_s / bare.per_s:.2f}x; per CPU-second "
        f"{connector.per_cpu_s:.0f} vs {bare.per_cpu_s:.0f}, "
        f"ratio {connector.per_cpu_s / bare.per_cpu_s:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
