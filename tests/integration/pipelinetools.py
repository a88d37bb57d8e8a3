"""Running the real pipeline worker and watching its topics, for the integration tests.

Imported as ``from pipelinetools import running_worker``: pytest puts this directory on
``sys.path`` for the tests in it (the directory is not a package), as for ``apiserver``.

Every wait here is bounded (``DEADLINE_S`` unless told otherwise) and, given the worker's
process, fails early when the worker exits.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import childprocs
from influxdb_client import InfluxDBClient
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    NotCoordinatorError,
)

from contracts.alarms import AlarmEvent, alarm_id, decode_alarm
from contracts.readings import Reading
from kafka_edge.connection import KafkaConnection, ProducerSettings
from kafka_edge.partitioner import partition_for
from kafka_edge.sync_clients import kafka_admin, kafka_observer, kafka_producer

REPO = childprocs.REPO
DEADLINE_S = 90.0


@contextlib.contextmanager
def running_worker(
    env: dict[str, str],
    *,
    app_id: str,
    tmp_path: Path,
    check_exit: bool = True,
    **extra_env: str,
) -> Iterator[subprocess.Popen]:
    """Run one ``python -m pipeline worker``; on exit stop it with SIGTERM.

    Its data directory is ``tmp_path/data-<app_id>`` unless ``extra_env`` names one; its log
    is ``proc.log_path`` and is shown when the body fails. With ``check_exit`` the worker
    must have stopped cleanly (exit code 0): off for tests that kill it themselves. It
    commits every 0.5 s (2.8 s in production), so that waits on commits are short.
    """
    log_path = tmp_path / f"worker-{app_id}-{uuid.uuid4().hex[:6]}.log"
    worker_env = {
        **env,
        "MILLSTREAM_PIPELINE_APP_ID": app_id,
        "MILLSTREAM_PIPELINE_DATA_DIR": str(tmp_path / f"data-{app_id}"),
        "MILLSTREAM_PIPELINE_BATCH_MAX_WAIT_MS": "200",
        "MILLSTREAM_PIPELINE_COMMIT_INTERVAL_MS": "500",
        "MILLSTREAM_PIPELINE_RETRY_BACKOFF_MS": "100",
        "MILLSTREAM_PIPELINE_RETRY_BACKOFF_MAX_MS": "500",
        **extra_env,
    }
    proc = childprocs.start_python(["-m", "pipeline", "worker"], env=worker_env, log_path=log_path)
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        yield proc
    except BaseException:
        sys.stderr.write(childprocs.read_log(log_path)[-6000:])
        raise
    finally:
        childprocs.stop(proc, timeout_s=30)
    if check_exit:
        assert proc.returncode == 0, childprocs.read_log(log_path)[-6000:]


def check_running(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is not None:
        raise AssertionError(f"worker exited early with code {proc.returncode}")


def wait_for_log(proc: subprocess.Popen, text: str) -> None:
    log_path: Path = proc.log_path  # type: ignore[attr-defined]
    childprocs.wait_for_output(proc, log_path, text, timeout_s=DEADLINE_S)


# -- Kafka: records in ----------------------------------------------------------------------


class Producer:
    """One producer for a test; ``send`` returns once the records are acknowledged."""

    def __init__(self, bootstrap: str, *, linger_ms: int = 0) -> None:
        self._producer = kafka_producer(
            KafkaConnection.plain(bootstrap), ProducerSettings(linger_ms=linger_ms)
        )

    def send(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        for key, value in records:
            self._producer.send(topic, key=key, value=value)
        self._producer.flush(timeout=30)

    def close(self) -> None:
        self._producer.close()


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send ``records`` (key, value) with a producer of their own."""
    producer = Producer(bootstrap, linger_ms=5)
    try:
        producer.send(topic, records)
    finally:
        producer.close()


def reading(
    machine: str, ts_ms: int, temperature: float, *, plant: str = "hall-b", **extra: Any
) -> tuple[bytes, bytes]:
    """A temperature reading as (key, value), on line 3 of ``plant``."""
    r = Reading(
        machine_id=machine,
        ts_ms=ts_ms,
        values={"temperature_c": temperature},
        plant=plant,
        line="3",
        **extra,
    )
    return r.key(), r.encode()


def raised_alarm(
    machine: str, *, value: float, threshold: float, ts_ms: int, message: str, **extra: Any
) -> AlarmEvent:
    """``machine``'s ``temperature_c`` high alarm raised (active, unacknowledged)."""
    return AlarmEvent(
        alarm_id=alarm_id(machine, "temperature_c", "high"),
        event="raised",
        state="active_unacknowledged",
        machine_id=machine,
        sensor="temperature_c",
        rule="high",
        severity="high",
        value=value,
        threshold=threshold,
        ts_ms=ts_ms,
        message=message,
        **extra,
    )


# -- Kafka: records out ---------------------------------------------------------------------


class Tail:
    """Reads a topic from the start, keeping every message; ``until`` waits, bounded."""

    def __init__(self, bootstrap: str, topic: str, proc: subprocess.Popen | None = None):
        self.topic = topic
        self.proc = proc
        self.messages: list[Any] = []
        self._consumer = kafka_observer(KafkaConnection.plain(bootstrap), topic)

    def poll(self, timeout_ms: int = 100) -> None:
        for batch in self._consumer.poll(timeout_ms=timeout_ms).values():
            self.messages.extend(batch)

    def until(
        self, done: Callable[[list[Any]], bool], *, deadline_s: float = DEADLINE_S
    ) -> list[Any]:
        deadline = time.monotonic() + deadline_s
        while not done(self.messages):
            check_running(self.proc)
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.topic}: condition not met after {len(self.messages)} messages: "
                    f"{summary(self.messages)}"
                )
            self.poll(200)
        return self.messages

    def close(self) -> None:
        self._consumer.close()


def summary(messages: list[Any]) -> str:
    """Per key: the seqs (alarm events) or the offsets of the records seen, compactly."""
    out: dict[str, list[Any]] = {}
    for m in messages:
        try:
            item: Any = decode_alarm(m.value).seq
        except Exception:
            item = m.offset
        out.setdefault((m.key or b"").decode(errors="replace"), []).append(item)
    return "; ".join(f"{k}: {v}" for k, v in sorted(out.items()))


def consume_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Any]], bool],
    *,
    proc: subprocess.Popen | None = None,
    deadline_s: float = DEADLINE_S,
) -> list[Any]:
    """Read ``topic`` from the start until ``done(messages)`` holds; return the messages."""
    tail = Tail(bootstrap, topic, proc)
    try:
        return tail.until(done, deadline_s=deadline_s)
    finally:
        tail.close()


def for_machine(machine: str, messages: list[Any]) -> list[Any]:
    return [m for m in messages if m.key == machine.encode()]


# -- Kafka: groups, offsets, partitions -----------------------------------------------------

# What the broker answers while a group's coordinator is not ready: a fresh broker creates its
# offsets topic when the first group asks for it, and loads it before it can answer.
COORDINATOR_NOT_READY = (
    CoordinatorNotAvailableError,
    NotCoordinatorError,
    CoordinatorLoadInProgressError,
)


def partition_count(bootstrap: str, topic: str) -> int:
    admin = kafka_admin(KafkaConnection.plain(bootstrap))
    try:
        return len(admin.describe_topics([topic])[0]["partitions"])
    finally:
        admin.close()


def machines_on_every_partition(
    partitions: int, per_partition: int, *, prefix: str = "rb"
) -> list[str]:
    """Machine ids whose keys land ``per_partition`` times on each readings partition."""
    base = uuid.uuid4().hex[:6]
    chosen: dict[int, list[str]] = {p: [] for p in range(partitions)}
    n = 0
    while any(len(ids) < per_partition for ids in chosen.values()):
        machine = f"{prefix}-{base}-{n}"
        n += 1
        partition = partition_for(machine.encode(), partitions)
        if len(chosen[partition]) < per_partition:
            chosen[partition].append(machine)
    return [m for ids in chosen.values() for m in ids]


def group_members(bootstrap: str, group: str) -> tuple[str, int]:
    """The group's state and member count."""
    admin = kafka_admin(KafkaConnection.plain(bootstrap))
    try:
        info = admin.describe_groups([group])[group]
    except COORDINATOR_NOT_READY:
        return "NoCoordinator", 0
    finally:
        admin.close()
    return info["group_state"], len(info["members"])


def wait_group(bootstrap: str, group: str, members: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while group_members(bootstrap, group) != ("Stable", members):
        if time.monotonic() > deadline:
            raise AssertionError(f"group {group} never became stable with {members} members")
        time.sleep(0.2)


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of ``topic``."""
    admin = kafka_admin(KafkaConnection.plain(bootstrap))
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def committed_total(bootstrap: str, group: str, topic: str) -> int:
    return sum(max(offset, 0) for offset in committed_offsets(bootstrap, group, topic).values())


def wait_committed(
    bootstrap: str, group: str, topic: str, expected: int, *, deadline_s: float = DEADLINE_S
) -> None:
    """Wait until the group has committed ``expected`` records of ``topic``, exactly."""
    deadline = time.monotonic() + deadline_s
    total = 0
    while True:
        with contextlib.suppress(*COORDINATOR_NOT_READY):
            total = committed_total(bootstrap, group, topic)
            if total >= expected:
                break
        if time.monotonic() > deadline:
            raise AssertionError(f"group {group}: committed {total} of {expected} on {topic}")
        time.sleep(0.2)
    assert total == expected, f"group {group}: committed {total}, expected {expected} on {topic}"


# -- InfluxDB -------------------------------------------------------------------------------


def flux_rows(influx: Any, bucket: str, flux_filter: str) -> list[dict]:
    """Every row of ``bucket`` from the last day that passes ``flux_filter``."""
    query = (
        f'from(bucket: "{bucket}") |> range(start: -1d, stop: 1h) '
        f"|> filter(fn: (r) => {flux_filter})"
    )
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org) as client:
        tables = client.query_api().query(query)
    return [record.values for table in tables for record in table.records]


def poll_flux(
    influx: Any,
    bucket: str,
    flux_filter: str,
    done: Callable[[list[dict]], bool],
    *,
    proc: subprocess.Popen | None = None,
) -> list[dict]:
    """``flux_rows`` polled until ``done(rows)`` holds; return the rows."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        check_running(proc)
        rows = flux_rows(influx, bucket, flux_filter)
        if done(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{bucket}: condition not met for {flux_filter}, got {rows!r}")
        time.sleep(0.2)
