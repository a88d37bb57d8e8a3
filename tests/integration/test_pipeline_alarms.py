"""The alarm engine in the real worker (``python -m pipeline worker``) on the real broker
and InfluxDB: the default rule with its deadband, live thresholds, the ack / shelve /
expiry lifecycle, comm loss by silence, and a worker killed in the middle of a run."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pipelinetools import (
    DEADLINE_S,
    Producer,
    Tail,
    committed_offsets,
    flux_rows,
    machines_on_every_partition,
    partition_count,
    reading,
    running_worker,
    wait_group,
)

from contracts.alarm_actions import AlarmAction
from contracts.alarm_state import decode_alarm_state
from contracts.alarms import AlarmEvent, decode_alarm
from contracts.thresholds import Limit, SensorThresholds
from contracts.timefmt import now_ms
from infra.ports import free_port

pytestmark = pytest.mark.integration


def worker(
    env: dict[str, str], *, app_id: str, tmp_path: Path, **extra: str
) -> contextlib.AbstractContextManager[subprocess.Popen]:
    """One worker with a data directory of its own and comm loss off unless ``extra`` says;
    stopped with SIGTERM at the end unless the test killed it."""
    return running_worker(
        env,
        app_id=app_id,
        tmp_path=tmp_path,
        check_exit=False,
        **{
            "MILLSTREAM_PIPELINE_DATA_DIR": str(tmp_path / f"data-{uuid.uuid4().hex[:6]}"),
            "MILLSTREAM_PIPELINE_ALARM_COMM_LOSS_AFTER_S": "0",
            **extra,
        },
    )


@pytest.fixture
def producer(common_settings) -> Iterator[Producer]:
    p = Producer(common_settings.kafka_bootstrap_servers)
    try:
        yield p
    finally:
        p.close()


def action(machine: str, kind: str, **fields: Any) -> tuple[bytes, bytes]:
    a = AlarmAction(
        action_id=uuid.uuid4().hex,
        action=kind,  # type: ignore[arg-type]
        machine_id=machine,
        sensor=fields.pop("sensor", "temperature_c"),
        rule=fields.pop("rule", "high"),
        by="op-ann",
        ts_ms=now_ms(),
        **fields,
    )
    return a.key(), a.encode()


def events_of(messages: list[Any], alarm: str) -> list[AlarmEvent]:
    return [decode_alarm(m.value) for m in messages if m.key == alarm.encode()]


def first_raised_by_readings(
    producer: Producer, alarms: Tail, readings_topic: str, machine: str, alarm: str, value: float
) -> AlarmEvent:
    """Send ``machine`` a reading of ``value`` every 50 ms until ``alarm`` has an event, and
    return the first: its reading time shows when the rule was in force."""
    deadline = time.monotonic() + 10
    while not events_of(alarms.messages, alarm):
        assert time.monotonic() < deadline, "threshold never applied"
        producer.send(readings_topic, [reading(machine, now_ms(), value)])
        alarms.poll(50)
    return events_of(alarms.messages, alarm)[0]


def count(alarm: str, n: int) -> Callable[[list[Any]], bool]:
    return lambda ms: len(events_of(ms, alarm)) >= n


def test_default_overheat_alarm_raised_and_cleared_with_its_deadband(
    common_settings, service_env, influx, tmp_path, producer
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"oh-{uuid.uuid4().hex[:8]}"
    alarm = f"{machine}:temperature_c:high"
    t0 = now_ms() - 60_000
    values = [70.0, 85.0, 85.1, 84.5, 90.0, 84.1, 84.0, 83.9, 84.5, 85.0]
    web_port = free_port()
    with worker(
        service_env,
        app_id=f"al-{uuid.uuid4().hex[:6]}",
        tmp_path=tmp_path,
        MILLSTREAM_PIPELINE_WEB_PORT=str(web_port),
    ) as proc:
        alarms = Tail(bootstrap, topics.alarms, proc)
        states = Tail(bootstrap, topics.alarm_state, proc)
        try:
            producer.send(
                topics.readings,
                [reading(machine, t0 + i * 1000, v) for i, v in enumerate(values)],
            )
            events = events_of(alarms.until(count(alarm, 2)), alarm)
            assert [(e.event, e.value, e.seq, e.state) for e in events] == [
                ("raised", 85.1, 1, "active_unacknowledged"),
                ("cleared", 83.9, 2, "cleared_unacknowledged"),
            ]
            assert events[0].message == f"temperature_c 85.1 above 85.0 on machine {machine}"
            assert events[1].message == f"temperature_c 83.9 back below 84.0 on machine {machine}"
            assert (events[0].plant, events[0].line, events[0].severity) == ("hall-b", "3", "high")
            # The readings are a minute old, as a plant's backlog is when its link comes back:
            # each event carries the time of the reading that caused it, not its arrival.
            assert [e.ts_ms for e in events] == [t0 + 2000, t0 + 7000]
            # One record per alarm and batch: the latest state (compaction keeps the last).
            records = states.until(
                lambda ms: any(
                    m.key == alarm.encode()
                    and decode_alarm_state(m.value).state == "cleared_unacknowledged"
                    for m in ms
                )
            )
            last = decode_alarm_state([m for m in records if m.key == alarm.encode()][-1].value)
            assert (last.state, last.active, last.value) == ("cleared_unacknowledged", False, 83.9)
            # Nothing more comes: the flapping values after the clear stay under 85.
            time.sleep(1.0)
            alarms.poll(500)
            assert len(events_of(alarms.messages, alarm)) == 2
            # The engine's counters, on the worker's web port.
            with urllib.request.urlopen(
                f"http://127.0.0.1:{web_port}/alarms/metrics/", timeout=10
            ) as response:
                metrics = response.read().decode()
            assert 'millstream_alarm_events_total{event="raised"} 1.0' in metrics
            assert 'millstream_alarm_events_total{event="cleared"} 1.0' in metrics
        finally:
            alarms.close()
            states.close()
        deadline = time.monotonic() + DEADLINE_S
        while (
            len(
                rows := flux_rows(
                    influx,
                    influx.alarms_bucket,
                    f'r.machine_id == "{machine}" and r._field == "state"',
                )
            )
            < 2
        ):
            assert time.monotonic() < deadline, rows
            time.sleep(0.5)
        assert [r["_value"] for r in rows] == ["active_unacknowledged", "cleared_unacknowledged"]
        assert [r["_time"] for r in rows] == [
            datetime.fromtimestamp(ms / 1000, UTC) for ms in (t0 + 2000, t0 + 7000)
        ]


def test_threshold_record_is_applied_within_one_second(
    common_settings, service_env, influx, tmp_path, producer
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"th-{uuid.uuid4().hex[:8]}"
    alarm = f"{machine}:temperature_c:high"
    with worker(service_env, app_id=f"al-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path) as proc:
        alarms = Tail(bootstrap, topics.alarms, proc)
        try:
            # 80 °C is fine under the default rule; wait until the worker has judged it so
            # (its row in InfluxDB is written after its alarms were evaluated).
            producer.send(topics.readings, [reading(machine, now_ms(), 80.0)])
            readings_stored(influx, [machine], deadline_s=DEADLINE_S, expected=1)
            assert readings_stored(influx, [machine], deadline_s=0, expected=1)[machine] == 1
            assert events_of(alarms.messages, alarm) == []
            record = SensorThresholds(
                machine_id=machine,
                sensor="temperature_c",
                limits={"high": Limit(value=75.0, deadband=1.0, severity="critical")},
                updated_by="eng-bob",
            )
            produced_ms = now_ms()
            producer.send(topics.thresholds, [(record.key(), record.encode())])
            raised = first_raised_by_readings(
                producer, alarms, topics.readings, machine, alarm, 80.0
            )
            seen_ms = now_ms()
        finally:
            alarms.close()
    applied_ms = raised.ts_ms - produced_ms
    assert applied_ms >= 0, "raised by a reading from before the threshold record"
    sys.stderr.write(
        f"threshold applied within {applied_ms} ms (reading time); "
        f"raised event seen {seen_ms - produced_ms} ms after the record was produced\n"
    )
    assert (raised.event, raised.threshold, raised.severity) == ("raised", 75.0, "critical")
    assert applied_ms < 1000
    # Upper bound: record produced -> rule applied -> reading batched -> event in Kafka.
    assert seen_ms - produced_ms < 1000


def test_ack_shelve_and_expiry_lifecycle_through_alarm_actions(
    common_settings, service_env, tmp_path, producer
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"lc-{uuid.uuid4().hex[:8]}"
    alarm = f"{machine}:temperature_c:high"
    t0 = now_ms() - 60_000
    with worker(service_env, app_id=f"al-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path) as proc:
        alarms = Tail(bootstrap, topics.alarms, proc)
        dead = Tail(bootstrap, topics.dead_letter, proc)
        states = Tail(bootstrap, topics.alarm_state, proc)
        try:
            # Refused: no such alarm yet.
            producer.send(topics.alarm_actions, [action(machine, "acknowledge")])
            reasons = dead.until(lambda ms: len(ms) >= 1)
            body = orjson.loads(reasons[0].value)
            assert body["stage"] == "alarm_action"
            assert body["reason"] == (
                f"acknowledge: alarm {alarm}: unknown alarm on machine {machine}"
            )

            producer.send(topics.readings, [reading(machine, t0, 90.0)])
            alarms.until(count(alarm, 1))
            producer.send(topics.alarm_actions, [action(machine, "acknowledge", comment="seen")])
            alarms.until(count(alarm, 2))
            until_ms = now_ms() + 4000
            producer.send(
                topics.alarm_actions, [action(machine, "shelve", shelve_until_ts_ms=until_ms)]
            )
            alarms.until(count(alarm, 3))
            # While shelved: clears and raises again, silently.
            producer.send(
                topics.readings,
                [reading(machine, t0 + 1000, 80.0), reading(machine, t0 + 2000, 95.0)],
            )
            # Acknowledging a shelved alarm is refused.
            producer.send(topics.alarm_actions, [action(machine, "acknowledge")])
            dead.until(lambda ms: len(ms) >= 2)
            assert orjson.loads(dead.messages[1].value)["reason"] == (
                f"acknowledge: alarm {alarm} is shelved: unshelve it first"
            )
            events = events_of(alarms.until(count(alarm, 4), deadline_s=30), alarm)
            expired_ms = now_ms()
            assert [(e.event, e.state, e.seq) for e in events] == [
                ("raised", "active_unacknowledged", 1),
                ("acknowledged", "active_acknowledged", 2),
                ("shelved", "shelved", 3),
                ("unshelved", "active_unacknowledged", 4),
            ]
            assert (events[1].by, events[1].comment) == ("op-ann", "seen")
            assert events[3].ts_ms == until_ms
            assert events[3].comment == "shelve expired"
            assert expired_ms - until_ms < 3000
            assert events[3].value == 95.0
            # The compacted alarm-state topic's latest record for the alarm is the current state.
            records = states.until(
                lambda ms: any(
                    m.key == alarm.encode()
                    and decode_alarm_state(m.value).state == events[3].state
                    and decode_alarm_state(m.value).updated_ts_ms == until_ms
                    for m in ms
                )
            )
            last = decode_alarm_state([m for m in records if m.key == alarm.encode()][-1].value)
            assert (last.state, last.active, last.shelved_until_ts_ms) == (
                "active_unacknowledged",
                True,
                None,
            )
        finally:
            alarms.close()
            dead.close()
            states.close()


def test_silence_raises_comm_loss_and_the_next_reading_clears_it(
    common_settings, service_env, tmp_path, producer
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"cl-{uuid.uuid4().hex[:8]}"
    alarm = f"{machine}:machine:comm_loss"
    with worker(
        service_env,
        app_id=f"al-{uuid.uuid4().hex[:6]}",
        tmp_path=tmp_path,
        MILLSTREAM_PIPELINE_ALARM_COMM_LOSS_AFTER_S="10",
    ) as proc:
        alarms = Tail(bootstrap, topics.alarms, proc)
        try:
            last_ms = now_ms()
            # 90 °C: the high alarm shows when the worker has processed the reading.
            producer.send(topics.readings, [reading(machine, last_ms, 90.0)])
            alarms.until(count(f"{machine}:temperature_c:high", 1))
            processed_ms = now_ms()
            raised = events_of(alarms.until(count(alarm, 1), deadline_s=40), alarm)[0]
            silent_ms = now_ms() - processed_ms
            assert (raised.event, raised.ts_ms, raised.threshold) == (
                "raised",
                last_ms + 10_000,
                10.0,
            )
            # Silence is measured on the worker's clock from when it processed the reading.
            assert 8_000 < silent_ms < 13_000, silent_ms
            producer.send(topics.readings, [reading(machine, now_ms(), 50.0)])
            events = events_of(alarms.until(count(alarm, 2)), alarm)
            assert [(e.event, e.seq) for e in events] == [("raised", 1), ("cleared", 2)]
        finally:
            alarms.close()


def readings_stored(
    influx, machines: list[str], *, deadline_s: float, expected: int
) -> dict[str, int]:
    """Readings per machine in InfluxDB, polled until all are there or the deadline."""
    prefix = machines[0].rsplit("-", 1)[0]
    flux_filter = (
        'r._measurement == "readings" and r._field == "temperature_c" '
        f"and r.machine_id =~ /^{prefix}-/"
    )
    deadline = time.monotonic() + deadline_s
    while True:
        counts = dict.fromkeys(machines, 0)
        for row in flux_rows(influx, influx.bucket, flux_filter):
            counts[row["machine_id"]] = counts.get(row["machine_id"], 0) + 1
        if all(n >= expected for n in counts.values()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def wait_committed_everywhere(bootstrap: str, group: str, topic: str, partitions: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        offsets = committed_offsets(bootstrap, group, topic)
        committed = {partition for partition, offset in offsets.items() if offset > 0}
        if len(committed) == partitions:
            return
        assert time.monotonic() < deadline, f"group {group}: offsets committed only on {committed}"
        time.sleep(0.2)


def test_worker_killed_mid_run_loses_and_duplicates_no_alarm_transition(
    common_settings, service_env, influx, tmp_path
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    app_id = f"al-{uuid.uuid4().hex[:6]}"
    partitions = partition_count(bootstrap, topics.readings)
    machines = machines_on_every_partition(partitions, 2, prefix="kb")
    steps = 40
    t0 = now_ms() - 120_000
    # Faust's session timeout bounds how long the killed worker's partitions stay orphaned.
    extra = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
    stop = threading.Event()
    produced: list[int] = []

    def produce_steps() -> None:
        p = Producer(bootstrap)
        try:
            for step in range(steps):
                if stop.is_set():
                    return
                # Alternating: every step is one transition of every machine's alarm.
                value = 90.0 if step % 2 == 0 else 80.0
                p.send(topics.readings, [reading(m, t0 + step * 1000, value) for m in machines])
                produced.append(step)
                time.sleep(0.4)
        finally:
            p.close()

    with worker(service_env, app_id=app_id, tmp_path=tmp_path, **extra) as first:
        wait_group(bootstrap, app_id, 1)
        with worker(service_env, app_id=app_id, tmp_path=tmp_path, **extra) as second:
            wait_group(bootstrap, app_id, 2)
            alarms = Tail(bootstrap, topics.alarms)
            thread = threading.Thread(target=produce_steps, daemon=True)
            thread.start()
            try:
                alarms.until(lambda ms: len(ms) >= 4 * len(machines))
                # Mid-run, once every partition has committed offsets (a worker killed
                # before its first commit is a different case: see docs/engineers.md, Alarms).
                wait_committed_everywhere(bootstrap, app_id, topics.readings, partitions)
                first.kill()  # SIGKILL: no commit, no leave-group, table writes in flight
                first.wait(timeout=10)
                thread.join(timeout=DEADLINE_S)
                assert not thread.is_alive()
                assert len(produced) == steps
                expected = steps * len(machines)

                def all_seen(ms: list[Any]) -> bool:
                    return len({(m.key, decode_alarm(m.value).seq) for m in ms}) >= expected

                # Judged below: what arrived must be right, then whether all of it did.
                with contextlib.suppress(AssertionError):
                    alarms.until(all_seen, deadline_s=60)
                alarms.poll(1000)
                messages = alarms.messages
                assert second.poll() is None
            finally:
                stop.set()
                alarms.close()

    # The alarm engine can only be judged on readings the pipeline processed: every reading
    # processed is written to InfluxDB (offsets are committed only after that).
    stored = readings_stored(influx, machines, deadline_s=20, expected=steps)
    lost = {m: steps - n for m, n in stored.items() if n < steps}
    assert lost == {}, "readings lost after the rebalance (never written to InfluxDB)"
    # A transition is (event, state, reading time, value): a replay that reused a seq for a
    # different reading would show up here as a conflict.
    transitions: dict[tuple[str, int], set[tuple[str, str, int, float]]] = {}
    for message in messages:
        event = decode_alarm(message.value)
        transitions.setdefault((event.alarm_id, event.seq), set()).add(
            (event.event, event.state, event.ts_ms, event.value)
        )
    conflicting = {k: v for k, v in transitions.items() if len(v) > 1}
    assert conflicting == {}
    missing: dict[str, list[int]] = {}
    for machine in machines:
        alarm = f"{machine}:temperature_c:high"
        seqs = sorted(seq for a, seq in transitions if a == alarm)
        # Whatever arrived is a gapless run of transitions from the first one...
        assert seqs == list(range(1, len(seqs) + 1)), (alarm, seqs)
        for seq in seqs:
            step = seq - 1
            kind = "raised" if step % 2 == 0 else "cleared"
            state = "active_unacknowledged" if kind == "raised" else "cleared_unacknowledged"
            value = 90.0 if kind == "raised" else 80.0
            assert transitions[(alarm, seq)] == {(kind, state, t0 + step * 1000, value)}, (
                alarm,
                seq,
            )
        if len(seqs) < steps:
            missing[alarm] = list(range(len(seqs) + 1, steps + 1))
    # Every reading was processed, so every transition must have been published.
    assert missing == {}
    duplicates = len(messages) - len(transitions)
    sys.stderr.write(
        f"kill test: {len(transitions)} transitions, {duplicates} replayed duplicates dropped\n"
    )
