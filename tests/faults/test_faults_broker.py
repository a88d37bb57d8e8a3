"""Kafka faults on a broker of this module's own (the session broker is shared and must
not be stopped): the single broker SIGKILLed and restarted during ingest, and a connector
``kill -9`` with readings in its spool while Kafka is away. Counted by seq from the
simulator's devices to the topic (and, for the broker kill, to InfluxDB)."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultprocs import (
    Broker,
    StallWatch,
    TopicReadings,
    gauge,
    process_env,
    spool_last_seqs,
    start,
    stop,
    stored_seqs,
    wait_for,
)
from faultrow import Row, count_seqs, seconds, upto

from bench.load import devices_file
from contracts.topics import TopicNames
from infra.bootstrap import create_millstream_topics
from infra.ports import free_port
from tests.conftest import InfluxInfo
from tests.integration.pipelinetools import running_worker, wait_committed, wait_group

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    own = Broker(tmp_path_factory.mktemp("faults-kafka"))
    own.start()
    try:
        yield own
    finally:
        own.stop()


def _setup(broker: Broker, tmp_path: Path, machines: list[str], poll_s: float):
    prefix = f"f{uuid.uuid4().hex[:8]}"
    create_millstream_topics(broker.bootstrap, prefix=prefix, stream_partitions=3)
    port = free_port()
    devices = devices_file(tmp_path / "devices.yaml", machines, port=port, poll_interval_s=poll_s)
    env = process_env(
        MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        MILLSTREAM_TOPIC_PREFIX=prefix,
        MILLSTREAM_CONNECTOR_DEVICES_FILE=str(devices),
        MILLSTREAM_CONNECTOR_ID="faults",
        MILLSTREAM_CONNECTOR_LINGER_MS="5",
        MILLSTREAM_CONNECTOR_SPOOL_DIR=str(tmp_path / "spool"),
        MILLSTREAM_CONNECTOR_STATS_INTERVAL_S="5",
    )
    sim = start(
        ["-m", "connectors.simulator", "--devices", str(devices), "--overheat-every-s", "0"],
        env,
        tmp_path / "sim.log",
    )
    wait_for(tmp_path / "sim.log", "simulator listening", timeout_s=30)
    return prefix, env, sim


def _note_stall(row: Row, watch: StallWatch) -> None:
    """The connector's longest silence (its log has a line every 5 s at least), and the
    stacks py-spy saw if it went silent for longer than the watch allows."""
    row.note(f"connector log's longest silence {watch.longest_silence_s:.0f} s")
    _note_stacks(row, watch.dump, "stalled")


def _note_stacks(row: Row, dump: Path, what: str) -> None:
    if dump.exists():
        stacks = dump.read_text()
        row.note(
            f"connector {what}; its stacks: "
            + " / ".join(line.strip() for line in stacks.splitlines() if "(" in line)[:1500]
        )


def test_broker_sigkilled_and_restarted_during_ingest(
    broker: Broker, influx: InfluxInfo, tmp_path: Path, fault_row: Row
) -> None:
    down_s = seconds(5, 20)
    fault_row.describe(
        "Kafka's single broker SIGKILLed during ingest, restarted",
        f"SIGKILL of the broker JVM while 3 devices are polled every 0.1 s; restarted on the "
        f"same port and data {down_s:.0f} s later",
        "every reading the connector spooled reaches the topic once and InfluxDB; the "
        "connector and the worker ride it out without a restart",
    )
    machines = [f"bk-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    prefix, env, sim = _setup(broker, tmp_path, machines, 0.1)
    topics = TopicNames.with_prefix(prefix)
    metrics_port = free_port()
    env["MILLSTREAM_CONNECTOR_METRICS_PORT"] = str(metrics_port)
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    app_id = f"fk-{uuid.uuid4().hex[:6]}"
    worker_env = process_env(
        MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        MILLSTREAM_TOPIC_PREFIX=prefix,
        MILLSTREAM_INFLUX_URL=influx.url,
        MILLSTREAM_INFLUX_TOKEN=influx.token,
        MILLSTREAM_INFLUX_ORG=influx.org,
        MILLSTREAM_INFLUX_BUCKET=influx.bucket,
        MILLSTREAM_INFLUX_AGGREGATES_BUCKET=influx.aggregates_bucket,
        MILLSTREAM_INFLUX_ALARMS_BUCKET=influx.alarms_bucket,
        MILLSTREAM_INFLUX_AUDIT_BUCKET=influx.audit_bucket,
    )
    tail = TopicReadings(broker.bootstrap, topics.readings)
    connector = None
    try:
        with running_worker(worker_env, app_id=app_id, tmp_path=tmp_path) as worker:
            wait_group(broker.bootstrap, app_id, 1)
            connector = start(["-m", "connectors"], env, tmp_path / "connector.log")
            wait_for(tmp_path / "connector.log", "kafka connected", timeout_s=60)
            watch = StallWatch(connector, tmp_path / "connector.log", tmp_path / "stall.txt")
            watch.__enter__()
            time.sleep(3)
            tail.poll()
            broker.kill()
            killed_at = time.monotonic()
            time.sleep(down_s)
            depth_before = gauge(metrics, "millstream_connector_spool_depth")
            broker.start()
            up_at = time.monotonic()
            fault_row.note(
                f"broker down {up_at - killed_at:.1f} s (restart included); spool depth "
                f"before the restart {depth_before}"
            )
            # The stall hunt: every reading spooled by the time the broker is back must
            # reach the topic; how long it takes is the row's recovery time.
            spooled = spool_last_seqs(tmp_path / "spool")
            recover_s = tail.wait_all(spooled, timeout_s=180)
            fault_row.recovered(recover_s)
            time.sleep(3)
            watch.__exit__()
            _note_stall(fault_row, watch)
            stop(connector)
            assert connector.returncode == 0, (tmp_path / "connector.log").read_text()[-3000:]
            last = spool_last_seqs(tmp_path / "spool")
            tail.wait_all(last, timeout_s=60)
            tail.drain()
            in_topic = count_seqs(upto(last), tail.seqs())
            wait_committed(
                broker.bootstrap, app_id, topics.readings, len(tail.records), deadline_s=120
            )
            assert worker.poll() is None, "the worker exited"
        stored = count_seqs(upto(last), stored_seqs(influx, machines, tail.records))
    finally:
        stop(connector, sim)
        tail.close()
    fault_row.readings(stored, in_topic=in_topic)
    assert (in_topic.lost, in_topic.duplicated) == (0, 0)
    assert stored.lost == 0
    assert recover_s < 60, f"spooled readings took {recover_s:.0f} s to reach the restarted broker"


def test_connector_killed_with_readings_in_its_spool(
    broker: Broker, tmp_path: Path, fault_row: Row
) -> None:
    outage_s = seconds(12, 30)
    fault_row.describe(
        "connector kill -9 with readings in its spool",
        f"Kafka stopped for {outage_s:.0f} s; a third of the way in, the connector (polling 2 "
        "devices, one every 0.05 s) is SIGKILLed and a new one started on the same spool",
        "every reading that got a seq reaches the topic once, in order per machine; the "
        "spool is empty at the end",
    )
    machines = [f"sp-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]
    prefix, env, sim = _setup(broker, tmp_path, machines, 0.05)
    topics = TopicNames.with_prefix(prefix)
    first = second = None
    tail = None
    try:
        first = start(["-m", "connectors"], env, tmp_path / "first.log")
        wait_for(tmp_path / "first.log", "kafka connected", timeout_s=60)
        time.sleep(3)
        broker.stop()
        stopped_at = time.monotonic()
        time.sleep(outage_s / 3)
        in_spool = spool_last_seqs(tmp_path / "spool")
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
        second = start(["-m", "connectors"], env, tmp_path / "second.log")
        watch = StallWatch(second, tmp_path / "second.log", tmp_path / "stall.txt")
        watch.__enter__()
        time.sleep(max(0.0, outage_s - (time.monotonic() - stopped_at)))
        broker.start()
        up_at = time.monotonic()
        wait_for(tmp_path / "second.log", "kafka connected", timeout_s=60)
        tail = TopicReadings(broker.bootstrap, topics.readings)
        recover_s = tail.wait_all(spool_last_seqs(tmp_path / "spool"), timeout_s=120)
        fault_row.recovered(recover_s + (time.monotonic() - up_at - recover_s))
        fault_row.note(f"seqs spooled when the connector was killed: {in_spool}")
        time.sleep(2)
        watch.__exit__()
        _note_stall(fault_row, watch)
        # A clean stop flushes for up to 30 s (connector_flush_timeout_s), then closes.
        stop(second, timeout_s=60, stacks=tmp_path / "stop-stacks.txt")
        _note_stacks(fault_row, tmp_path / "stop-stacks.txt", "did not stop in 60 s")
        assert second.returncode == 0
    finally:
        stop(first, second, sim)
    assert tail is not None
    try:
        last = spool_last_seqs(tmp_path / "spool")
        tail.wait_all(last, timeout_s=60)
        tail.drain()
        counted = count_seqs(upto(last), tail.seqs())
    finally:
        tail.close()
    fault_row.readings(counted, in_topic=counted)
    fault_row.note("stored here means in the readings topic (no worker in this row)")
    stopped = next(
        line
        for line in (tmp_path / "second.log").read_text().splitlines()
        if "connector stopped" in line
    )
    assert "spooled=0 " in stopped and "spool_dropped=0 " in stopped, stopped
    assert (counted.lost, counted.duplicated) == (0, 0)
    for m in machines:
        seqs = [s for mid, s in tail.seqs() if mid == m]
        assert seqs == sorted(seqs), f"{m}: out of order"
    assert min(last.values()) > outage_s / 0.05 * 0.5
