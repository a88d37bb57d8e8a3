"""The replicated central cluster on real processes: 3 KRaft brokers, Redis, 2 API replicas.

Selected with ``-m cluster``. The module starts its own stack (``MILLSTREAM_KAFKA_BROKERS=3``
and ``MILLSTREAM_REDIS=1`` through the same ``infra`` code as ``python -m infra up``) and
stops it at the end; each test takes well under a minute.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from rich.console import Console

from connectors.config.settings import ConnectorSettings
from connectors.forwarding.producer import build_kafka_producer
from contracts.readings import Reading, decode_reading
from contracts.topics import TopicNames
from infra import processes, redis_server
from infra.bootstrap import create_millstream_topics
from infra.ports import free_port
from infra.servers import Connection, LocalServers
from infra.settings import InfraSettings

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

BROKERS = 3
PARTITIONS = 3
MACHINES = 4
RATE_PER_S = 400
PRODUCE_S = 14.0
KILL_AT_S = 4.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServers]:
    settings = InfraSettings(
        run_dir=tmp_path_factory.mktemp("cluster"),
        kafka_brokers=BROKERS,
        redis=True,
        topic_prefix="millstream-cluster",
        stream_partitions=PARTITIONS,
    )
    servers = LocalServers(settings, console=Console(stderr=True, soft_wrap=True))
    try:
        servers.up()
        yield servers
    finally:
        servers.down()


@pytest.fixture(scope="module")
def conn(cluster: LocalServers) -> Connection:
    return cluster.connection()


def test_status_lists_every_central_broker_and_redis(cluster: LocalServers) -> None:
    rows = {p.name: p for p in cluster.processes()}
    central = [name for name in rows if "central" in name]
    assert len(central) == BROKERS
    assert all(rows[name].healthy and rows[name].pid for name in [*central, "redis", "influxdb"])
    assert cluster.connection().kafka_bootstrap.count(",") == BROKERS - 1
    # The command docs/scaling.md shows, on the same run directory.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env.update(
        MILLSTREAM_RUN_DIR=str(cluster.run_dir),
        MILLSTREAM_KAFKA_BROKERS=str(BROKERS),
        MILLSTREAM_REDIS="1",
    )
    shown = subprocess.run(
        [sys.executable, "-m", "infra", "status", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    listed = json.loads(shown.stdout)
    assert {p["name"]: (p["pid"], p["port"], p["healthy"]) for p in listed} == {
        name: (p.pid, p.port, True) for name, p in rows.items()
    }


def test_topics_and_internal_topics_keep_three_copies(conn: Connection) -> None:
    prefix = f"c{uuid.uuid4().hex[:8]}"
    create_millstream_topics(conn.kafka_bootstrap, prefix=prefix, stream_partitions=PARTITIONS)
    admin = KafkaAdminClient(bootstrap_servers=conn.kafka_bootstrap.split(","))
    try:
        readings = TopicNames.with_prefix(prefix).readings
        described = admin.describe_topics([readings])[0]
        assert {len(p["replica_nodes"]) for p in described["partitions"]} == {3}
        topic = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, readings, ["min.insync.replicas"])]
        )["topic"][readings]
        assert topic["min.insync.replicas"]["value"] == "2"
        # The first offset commit creates the offsets topic, with the cluster's replication.
        group = KafkaConsumer(
            bootstrap_servers=conn.kafka_bootstrap.split(","), group_id=f"g-{prefix}"
        )
        try:
            tp = TopicPartition(readings, 0)
            group.assign([tp])
            group.seek(tp, 0)
            group.commit()
        finally:
            group.close()
        offsets = admin.describe_topics(["__consumer_offsets"])[0]["partitions"]
        assert offsets and {len(p["replica_nodes"]) for p in offsets} == {3}
    finally:
        admin.close()
    assert conn.env()["MILLSTREAM_PIPELINE_REPLICATION_FACTOR"] == "3"


def _leader_of_partition_0(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        partitions = admin.describe_topics([topic])[0]["partitions"]
        return next(p["leader_id"] for p in partitions if p["partition_index"] == 0)
    finally:
        admin.close()


def _produce_steadily(
    settings: ConnectorSettings, topic: str, on_tick: dict[float, object]
) -> tuple[int, list[float], list[str]]:
    """Send RATE_PER_S readings a second for PRODUCE_S through the connector's producer;
    returns how many were sent, each delivery's latency (s) and the delivery errors."""
    producer = build_kafka_producer(settings)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def delivered(sent_at: float, _meta: object) -> None:
        with lock:
            latencies.append(time.monotonic() - sent_at)

    def failed(exc: BaseException) -> None:
        with lock:
            errors.append(repr(exc))

    start = time.monotonic()
    sent = 0
    due = sorted(on_tick.items())
    try:
        while (elapsed := time.monotonic() - start) < PRODUCE_S:
            while due and elapsed >= due[0][0]:
                action = due.pop(0)[1]
                assert callable(action)
                action()
            target = int(elapsed * RATE_PER_S)
            while sent < target:
                machine = str(sent % MACHINES)
                reading = Reading(
                    machine_id=machine,
                    ts_ms=int(time.time() * 1000),
                    values={"temperature_c": 20.0},
                    seq=sent // MACHINES,
                )
                future = producer.send(topic, key=reading.key(), value=reading.encode())
                future.add_callback(delivered, time.monotonic())
                future.add_errback(failed)
                sent += 1
            time.sleep(0.005)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return sent, latencies, errors


def _read_all(bootstrap: str, topic: str) -> list[Reading]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out: list[Reading] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < end[tp] for tp in parts):
            assert time.monotonic() < deadline, "could not read the topic back in 30 s"
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(decode_reading(r.value) for r in records)
        return out
    finally:
        consumer.close()


def test_broker_sigkilled_under_steady_produce_loses_and_duplicates_nothing(
    cluster: LocalServers, conn: Connection
) -> None:
    prefix = f"k{uuid.uuid4().hex[:8]}"
    create_millstream_topics(conn.kafka_bootstrap, prefix=prefix, stream_partitions=PARTITIONS)
    topic = TopicNames.with_prefix(prefix).readings
    victim = f"kafka-central-{_leader_of_partition_0(conn.kafka_bootstrap, topic)}"
    pid = processes.read_pid(cluster.run_dir, victim)
    assert pid is not None
    settings = ConnectorSettings(
        kafka_bootstrap_servers=conn.kafka_bootstrap,
        topic_prefix=prefix,
        connector_id="cluster-test",
        connector_delivery_timeout_ms=60_000,
    )
    sent, latencies, errors = _produce_steadily(
        settings, topic, {KILL_AT_S: lambda: os.kill(pid, signal.SIGKILL)}
    )
    try:
        assert errors == []
        assert len(latencies) == sent
        readings = _read_all(conn.kafka_bootstrap, topic)
        counts = Counter((r.machine_id, r.seq) for r in readings)
        expected = {(str(i % MACHINES), i // MACHINES) for i in range(sent)}
        lost = expected - counts.keys()
        duplicated = sum(n - 1 for n in counts.values())
        pause = max(latencies)
        print(
            f"\nbroker {victim} SIGKILLed at {KILL_AT_S:.0f}s: sent={sent} lost={len(lost)} "
            f"duplicated={duplicated} longest delivery={pause:.2f}s "
            f"p50={sorted(latencies)[len(latencies) // 2] * 1000:.0f}ms"
        )
        assert not lost and duplicated == 0 and len(readings) == sent
        # A leader change, not a stall: the cluster fences the dead node within seconds.
        assert pause < 30
    finally:
        cluster.up()  # the killed node rejoins, so the module's later tests see 3 brokers
        # kafka-python leaves the sockets of connection attempts the killed node refused to
        # the garbage collector; collect them here rather than in a later test.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def _start_api(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "api"],
            env={**env, "MILLSTREAM_API_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"API exited:\n{processes.tail(log)}"
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url}/ready not 200 within 60 s:\n{processes.tail(log)}")


def test_a_key_flooding_one_replica_is_limited_on_the_other(
    conn: Connection, tmp_path: Path
) -> None:
    prefix = f"a{uuid.uuid4().hex[:8]}"
    create_millstream_topics(conn.kafka_bootstrap, prefix=prefix, stream_partitions=PARTITIONS)
    key = "sk_prod_" + uuid.uuid4().hex[:24]
    base = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env = {
        **base,
        **conn.env(),
        "MILLSTREAM_TOPIC_PREFIX": prefix,
        "MILLSTREAM_API_ADMIN_API_KEY": key,
        "MILLSTREAM_API_RATE_LIMIT_READ": "20/minute",
        "PYTHONUNBUFFERED": "1",
    }
    assert env["MILLSTREAM_API_RATE_LIMIT_STORAGE_URI"].startswith("redis://127.0.0.1:")
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"api-{i}.log" for i in (1, 2)]
    procs = [_start_api(env, port, log) for port, log in zip(ports, logs, strict=True)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, proc, log in zip(urls, procs, logs, strict=True):
            _wait_ready(url, proc, log)
        headers = {"X-API-Key": key}
        with httpx.Client(headers=headers, timeout=10) as http:
            assert http.get(f"{urls[1]}/api/machines").status_code == 200
            codes = [http.get(f"{urls[0]}/api/machines").status_code for _ in range(25)]
            assert codes[0] == 200 and codes[-1] == 429
            other = http.get(f"{urls[1]}/api/machines")
        assert other.status_code == 429, other.text
        assert "rate limit" in other.text
        redis_url = urlsplit(env["MILLSTREAM_API_RATE_LIMIT_STORAGE_URI"])
        assert redis_url.hostname and redis_url.port
        assert redis_server.ping(redis_url.hostname, redis_url.port)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_the_workers_changelogs_keep_three_copies(conn: Connection, tmp_path: Path) -> None:
    """The worker gets MILLSTREAM_PIPELINE_REPLICATION_FACTOR from `infra env` and Faust
    creates its table changelogs with it."""
    from pipelinetools import running_worker

    prefix = f"w{uuid.uuid4().hex[:8]}"
    create_millstream_topics(conn.kafka_bootstrap, prefix=prefix, stream_partitions=PARTITIONS)
    app_id = f"cluster-{prefix}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env = {**base, **conn.env(), "MILLSTREAM_TOPIC_PREFIX": prefix, "PYTHONUNBUFFERED": "1"}
    admin = KafkaAdminClient(bootstrap_servers=conn.kafka_bootstrap.split(","))
    try:
        with running_worker(env, app_id=app_id, tmp_path=tmp_path):
            deadline = time.monotonic() + 60
            changelogs: list[str] = []
            while len(changelogs) < 2:
                assert time.monotonic() < deadline, f"changelogs so far: {changelogs}"
                time.sleep(0.5)
                changelogs = [
                    t for t in admin.list_topics() if t.startswith(app_id) and "changelog" in t
                ]
            described = admin.describe_topics(changelogs)
    finally:
        admin.close()
    copies = {len(p["replica_nodes"]) for t in described for p in t["partitions"]}
    assert copies == {3}, described
