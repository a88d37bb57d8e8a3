"""Store-and-forward against a real broker of its own: Kafka stopped for 30 s, the
connector killed with SIGKILL during the outage and started again; afterwards every
reading that got a sequence number is in the topic exactly once, in order, per machine.

The broker is started for this module only (the session broker is shared by other tests
and must not be stopped), from the same ``infra`` code as ``python -m infra up``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from rich.console import Console

from contracts.readings import decode_reading
from contracts.topics import Replication, TopicNames
from infra import kafka_server, processes
from infra.bootstrap import create_millstream_topics
from infra.ports import free_port
from infra.servers import LocalServers
from infra.settings import InfraSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OUTAGE_S = 30.0
PREFIX = "outage"


class Broker:
    """A Kafka broker that the test may stop and start again on the same port and data."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        settings = InfraSettings(run_dir=run_dir, kafka_port=0, influx_port=0)
        self._proc: subprocess.Popen[bytes] | None = None
        self._dist, _ = LocalServers(settings, console=Console(stderr=True)).provision()

    def start(self) -> None:
        node = kafka_server.KafkaNode(kafka_server.NAME, 1, self.port, self.controller_port)
        configs = kafka_server.write_configs(
            run_dir=self.run_dir,
            host="127.0.0.1",
            nodes=[node],
            replication=Replication.for_brokers(1),
        )
        kafka_server.format_storage(self._dist, configs, self.run_dir)
        self._proc = kafka_server.start_node(
            self._dist,
            run_dir=self.run_dir,
            name=node.name,
            props=configs[node.name],
            heap_mb=384,
        )
        kafka_server.wait_healthy(self.bootstrap, run_dir=self.run_dir, timeout_s=90)

    def stop(self) -> None:
        processes.stop(self.run_dir, kafka_server.NAME, timeout_s=30)
        if self._proc is not None:
            self._proc.wait(timeout=30)
            self._proc = None


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    own = Broker(tmp_path_factory.mktemp("outage-kafka"))
    own.start()
    try:
        create_millstream_topics(own.bootstrap, prefix=PREFIX, stream_partitions=3)
        yield own
    finally:
        own.stop()


def _env(broker: Broker, devices: Path, spool_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env.update(
        PYTHONUNBUFFERED="1",
        MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        MILLSTREAM_TOPIC_PREFIX=PREFIX,
        MILLSTREAM_CONNECTOR_DEVICES_FILE=str(devices),
        MILLSTREAM_CONNECTOR_ID="outage-test",
        MILLSTREAM_CONNECTOR_LINGER_MS="5",
        MILLSTREAM_CONNECTOR_SPOOL_DIR=str(spool_dir),
        MILLSTREAM_CONNECTOR_STATS_INTERVAL_S="5",
    )
    return env


def _devices_file(tmp_path: Path, port: int) -> Path:
    text = (REPO / "devices.example.yaml").read_text(encoding="utf-8")
    text = text.replace("port: 5020", f"port: {port}").replace(
        "poll_interval_s: 1.0", "poll_interval_s: 0.1"
    )
    second = f"""
  - machine_id: press-7
    host: 127.0.0.1
    port: {port}
    device_id: 2
    poll_interval_s: 0.05
    registers:
      - {{name: pressure_bar, address: 0, type: float32}}
      - {{name: stroke_count, address: 2, type: uint32, byte_order: CDAB}}
"""
    path = tmp_path / "devices.yaml"
    path.write_text(text + second, encoding="utf-8")
    return path


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _wait_for(log: Path, text: str, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {log.name} within {timeout_s} s:\n{log.read_text()}")


def _all_readings(bootstrap: str, topic: str, *, timeout_s: float = 30.0) -> list[tuple[str, int]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3_000,
    )
    out: list[tuple[str, int]] = []
    deadline = time.monotonic() + timeout_s
    try:
        for record in consumer:
            reading = decode_reading(record.value)
            assert record.key.decode() == reading.machine_id
            out.append((reading.machine_id, reading.seq))
            if time.monotonic() > deadline:
                break
    finally:
        consumer.close()
    return out


def test_kafka_outage_and_a_killed_connector_lose_and_duplicate_nothing(
    broker: Broker, tmp_path: Path
) -> None:
    sim_port = free_port()
    devices = _devices_file(tmp_path, sim_port)
    spool_dir = tmp_path / "spool"
    env = _env(broker, devices, spool_dir)
    sim = _start(
        ["-m", "connectors.simulator", "--devices", str(devices), "--tick-s", "0.1"],
        env,
        tmp_path / "sim.log",
    )
    first = second = None
    try:
        _wait_for(tmp_path / "sim.log", "simulator listening", timeout_s=30)
        first = _start(["-m", "connectors"], env, tmp_path / "first.log")
        _wait_for(tmp_path / "first.log", "kafka connected", timeout_s=60)
        time.sleep(3)

        broker.stop()
        outage_started = time.monotonic()
        time.sleep(OUTAGE_S / 3)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
        second = _start(["-m", "connectors"], env, tmp_path / "second.log")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))

        broker.start()
        _wait_for(tmp_path / "second.log", "kafka connected", timeout_s=60)
        time.sleep(5)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        for proc in (first, second, sim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    log = (tmp_path / "second.log").read_text(encoding="utf-8")
    stopped = next(line for line in log.splitlines() if "connector stopped" in line)
    assert "spooled=0 " in stopped
    assert "spool_dropped=0 " in stopped
    spool_file = next(spool_dir.glob("*.sqlite3"))
    with sqlite3.connect(spool_file) as db:
        last_seqs = dict(db.execute("SELECT machine_id, last_seq FROM seqs").fetchall())
    assert set(last_seqs) == {"42", "press-7"}

    readings = _all_readings(broker.bootstrap, TopicNames.with_prefix(PREFIX).readings)
    for machine_id, last_seq in last_seqs.items():
        seqs = [seq for mid, seq in readings if mid == machine_id]
        # Exactly once and in order: the topic holds 1, 2, ..., last_seq and nothing else.
        assert seqs == list(range(1, last_seq + 1)), machine_id
    # The outage really happened while polling went on: well over 30 s of readings.
    assert last_seqs["press-7"] > OUTAGE_S / 0.05 * 0.5
