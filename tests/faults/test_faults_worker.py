"""Pipeline worker faults on the session's Kafka and InfluxDB: a worker SIGKILLed while its
windows are open and started again, and one of two workers SIGKILLed (the survivor takes
its partitions). Readings carry seqs 1..60 per machine; every reading must be stored and
every closed window emitted exactly once."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter

import orjson
import pytest
from faultprocs import stored_times
from faultrow import Row, count_seqs

from tests.integration.pipelinetools import (
    REPO,
    consume_until,
    for_machine,
    machines_on_every_partition,
    partition_count,
    produce,
    reading,
    running_worker,
    wait_committed,
    wait_group,
)

pytestmark = pytest.mark.integration

COMMIT_DEADLINE_S = 120.0
MINUTE_MS = 60_000
# Faust's session timeout bounds how long a killed worker's partitions stay orphaned.
FAST_GROUP = dict(
    MILLSTREAM_PIPELINE_WINDOW_HOPPING_S="0",
    MILLSTREAM_PIPELINE_COMMIT_INTERVAL_MS="500",
    BROKER_SESSION_TIMEOUT="10",
    BROKER_HEARTBEAT_INTERVAL="1",
)


def _start_worker(service_env, app_id: str, data_dir, log) -> subprocess.Popen[bytes]:
    env = dict(
        service_env,
        MILLSTREAM_PIPELINE_APP_ID=app_id,
        MILLSTREAM_PIPELINE_DATA_DIR=str(data_dir),
        MILLSTREAM_PIPELINE_BATCH_MAX_WAIT_MS="200",
        **FAST_GROUP,
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _readings(machines: list[str], w0: int, seqs: range) -> list[tuple[bytes, bytes]]:
    return [reading(m, w0 + (s - 1) * 1_000, float(s - 1), seq=s) for m in machines for s in seqs]


def _plan(settings):
    """Topics, bootstrap, a group id, a machine per partition, a window start 30 min ago."""
    topics = settings.topics
    bs = settings.kafka_bootstrap_servers
    machines = machines_on_every_partition(partition_count(bs, topics.readings), 1)
    w0 = (int(time.time() * 1000) // MINUTE_MS - 30) * MINUTE_MS
    return topics, bs, f"pl-{uuid.uuid4().hex[:6]}", machines, w0


def _aggregates(bs: str, topic: str, machines: list[str], worker) -> list:
    """Every aggregate once each machine has one, and 2 s more: a duplicate would be out."""
    consume_until(bs, topic, lambda ms: all(for_machine(m, ms) for m in machines), proc=worker)
    time.sleep(2.0)
    return consume_until(bs, topic, lambda ms: all(for_machine(m, ms) for m in machines))


def _check(fault_row: Row, influx, machines, w0, aggregates) -> None:
    times = stored_times(influx, machines, bucket=influx.bucket)
    arrived = [(m, s) for m in machines for s in range(1, 62) if (m, w0 + (s - 1) * 1_000) in times]
    stored = count_seqs({m: range(1, 61) for m in machines}, arrived)
    fault_row.readings(stored)
    windows = Counter(
        (a["machine_id"], a["start"])
        for a in (orjson.loads(r.value) for r in aggregates)
        if a["machine_id"] in machines
    )
    first = {m: [n for (mm, _), n in windows.items() if mm == m] for m in machines}
    lost = sum(1 for m in machines if not first[m])
    dup = sum(max(0, n - 1) for counts in first.values() for n in counts)
    fault_row.measured.update(windows=len(machines), windows_lost=lost, windows_duplicated=dup)
    fault_row.note(
        f"first-minute windows: {len(machines)} expected, {lost} lost, {dup} emitted twice"
    )
    assert stored.lost == 0
    for m in machines:
        mine = [orjson.loads(r.value) for r in for_machine(m, aggregates)]
        first_minute = [a for a in mine if a["start"] == mine[0]["start"]]
        assert len(first_minute) == 1, f"{m}: window emitted {len(first_minute)} times"
        stats = first_minute[0]["sensors"]["temperature_c"]
        assert stats["count"] == 60, f"{m}: {stats}"
        assert stats["mean"] == pytest.approx(29.5)


def test_worker_killed_mid_window_and_restarted(
    common_settings, service_env, influx, tmp_path, fault_row: Row
) -> None:
    fault_row.describe(
        "a worker killed mid-window",
        "the only worker SIGKILLed 1 s after half of each machine's minute window (3 "
        "machines, one per partition) was committed; started again on the same data dir",
        "the restarted worker rebuilds the open windows from their changelog: every "
        "reading stored, each window emitted once with all 60 readings",
    )
    topics, bs, app_id, machines, w0 = _plan(common_settings)
    data_dir = tmp_path / "data"
    victim = _start_worker(service_env, app_id, data_dir, tmp_path / "victim.log")
    try:
        wait_group(bs, app_id, 1)
        produce(bs, topics.readings, _readings(machines, w0, range(1, 31)))
        wait_committed(
            bs, app_id, topics.readings, 30 * len(machines), deadline_s=COMMIT_DEADLINE_S
        )
        time.sleep(1.0)
    finally:
        victim.kill()
        victim.wait(timeout=30)
    killed_at = time.monotonic()
    produce(bs, topics.readings, _readings(machines, w0, range(31, 61)))
    closer = [reading(m, w0 + MINUTE_MS + 10_000, 0.0, seq=61) for m in machines]
    produce(bs, topics.readings, closer)
    with running_worker(
        service_env,
        app_id=app_id,
        tmp_path=tmp_path,
        MILLSTREAM_PIPELINE_DATA_DIR=str(data_dir),
        **FAST_GROUP,
    ) as worker:
        wait_committed(
            bs, app_id, topics.readings, 61 * len(machines), deadline_s=COMMIT_DEADLINE_S
        )
        fault_row.recovered(time.monotonic() - killed_at)
        aggregates = _aggregates(bs, topics.aggregates, machines, worker)
    _check(fault_row, influx, machines, w0, aggregates)


def test_one_of_two_workers_sigkilled(
    common_settings, service_env, influx, tmp_path, fault_row: Row
) -> None:
    fault_row.describe(
        "one of two workers SIGKILLed",
        "two workers share the group; one is SIGKILLed while each machine's minute window "
        "is half full (3 machines, one per partition); the other stays",
        "the survivor takes the partitions, rebuilds the windows from the changelog: every "
        "reading stored, each window emitted once with all 60 readings",
    )
    topics, bs, app_id, machines, w0 = _plan(common_settings)
    with running_worker(service_env, app_id=app_id, tmp_path=tmp_path, **FAST_GROUP) as survivor:
        victim = _start_worker(service_env, app_id, tmp_path / "victim", tmp_path / "victim.log")
        try:
            wait_group(bs, app_id, 2)
            produce(bs, topics.readings, _readings(machines, w0, range(1, 31)))
            wait_committed(
                bs, app_id, topics.readings, 30 * len(machines), deadline_s=COMMIT_DEADLINE_S
            )
            time.sleep(1.0)  # the changelog of the open windows is out
        finally:
            victim.kill()
            victim.wait(timeout=30)
        killed_at = time.monotonic()
        produce(bs, topics.readings, _readings(machines, w0, range(31, 61)))
        produce(
            bs,
            topics.readings,
            [reading(m, w0 + MINUTE_MS + 10_000, 0.0, seq=61) for m in machines],
        )
        wait_committed(
            bs, app_id, topics.readings, 61 * len(machines), deadline_s=COMMIT_DEADLINE_S
        )
        fault_row.recovered(time.monotonic() - killed_at)
        aggregates = _aggregates(bs, topics.aggregates, machines, survivor)
    _check(fault_row, influx, machines, w0, aggregates)
