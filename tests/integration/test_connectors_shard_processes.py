"""Two connector processes share one devices file with --shard 0/2 and 1/2: every machine
is polled by exactly one of them, each with its own spool and gap-free seq."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from modbustools import line_with, process_env, start_python

from connectors.config.sharding import shard_of
from contracts.settings import CommonSettings
from infra.ports import free_port
from kafka_edge.connection import KafkaConnection
from kafka_edge.sync_clients import kafka_observer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MACHINES = [f"s{i:02d}" for i in range(8)]


def _devices_file(path: Path, port: int) -> Path:
    example = yaml.safe_load((REPO / "devices.example.yaml").read_text())["devices"][0]
    devices = []
    for unit, machine in enumerate(MACHINES, start=1):
        d = dict(example)
        d.update(machine_id=machine, port=port, device_id=unit, poll_interval_s=0.1)
        devices.append(d)
    path.write_text(yaml.safe_dump({"devices": devices}, sort_keys=False))
    return path


async def _stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    assert proc.stderr is not None
    async with asyncio.timeout(40):
        rest = (await proc.stderr.read()).decode()
        code = await proc.wait()
    return code, rest


def _readings(bootstrap: str, topic: str, *, want: int, timeout_s: float = 20.0) -> list[Any]:
    consumer = kafka_observer(KafkaConnection.plain(bootstrap), topic)
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < want and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                out.extend(orjson.loads(r.value) for r in batch)
    finally:
        consumer.close()
    return out


async def test_two_shards_poll_each_machine_once(
    common_settings: CommonSettings, tmp_path: Path
) -> None:
    port = free_port()
    devices = _devices_file(tmp_path / "devices.yaml", port)
    sim = await start_python(
        "-m",
        "connectors.simulator",
        "--devices",
        str(devices),
        "--tick-s",
        "0.1",
        env=process_env(),
    )
    shards: list[asyncio.subprocess.Process] = []
    results: list[tuple[int, str]] = []
    try:
        await line_with(sim, "simulator listening", timeout_s=20)
        for i in range(2):
            env = process_env(
                MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS=common_settings.kafka_bootstrap_servers,
                MILLSTREAM_TOPIC_PREFIX=common_settings.topic_prefix,
                MILLSTREAM_CONNECTOR_DEVICES_FILE=str(devices),
                MILLSTREAM_CONNECTOR_ID="shard-test",
                MILLSTREAM_CONNECTOR_LINGER_MS="5",
                MILLSTREAM_CONNECTOR_SPOOL_DIR=str(tmp_path / "spool"),
            )
            # one shard from the command line, the other from the environment
            if i == 0:
                shards.append(await start_python("-m", "connectors", "--shard", "0/2", env=env))
            else:
                env["MILLSTREAM_CONNECTOR_SHARD"] = "1/2"
                shards.append(await start_python("-m", "connectors", env=env))
        started = [await line_with(p, "connector started", timeout_s=30) for p in shards]
        await asyncio.sleep(2.0)
    finally:
        for proc in shards:
            results.append(await _stop(proc))
        sim.send_signal(signal.SIGTERM)
        await asyncio.wait_for(sim.wait(), timeout=20)
    for i, line in enumerate(started):
        mine = sum(shard_of(m, 2) == i for m in MACHINES)
        assert f"connector_id=shard-test-shard{i}of2 shard={i}/2 devices={mine} " in line
    assert all(code == 0 for code, _ in results)
    # each shard has a spool of its own
    spools = sorted(p.name.split("-")[2] for p in (tmp_path / "spool").glob("*.sqlite3"))
    assert spools == ["shard0of2", "shard1of2"]
    delivered = 0
    for _, rest in results:
        stopped = next(line for line in rest.splitlines() if "connector stopped" in line)
        fields = dict(part.split("=", 1) for part in stopped.split() if "=" in part)
        assert fields["spooled"] == "0"
        delivered += int(fields["delivered"])
    readings = _readings(
        common_settings.kafka_bootstrap_servers, common_settings.topics.readings, want=delivered
    )
    assert len(readings) == delivered
    by_machine: dict[str, list[int]] = {}
    for reading in readings:
        by_machine.setdefault(reading["machine_id"], []).append(reading["seq"])
    assert sorted(by_machine) == MACHINES
    for machine, seqs in by_machine.items():
        # polled by one process only: one gap-free sequence, no number twice
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), machine
        assert len(seqs) >= 5, machine
