"""The real pipeline worker (``python -m pipeline worker``) against real Kafka and InfluxDB."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid

import httpx
import orjson
import pytest
from kafka.partitioner import murmur2
from pipelinetools import (
    REPO,
    Tail,
    committed_total,
    consume_until,
    flux_rows,
    for_machine,
    machines_on_every_partition,
    partition_count,
    poll_flux,
    produce,
    reading,
    running_worker,
    wait_committed,
    wait_for_log,
    wait_group,
)

from contracts.alarms import decode_alarm
from contracts.timefmt import format_ts, now_ms
from infra.ports import free_port

pytestmark = pytest.mark.integration

# A plant name with a space: the tag must be escaped in line protocol.
PLANT = "hall b"


def test_worker_writes_readings_raises_one_alarm_and_dead_letters(
    common_settings, service_env, influx, tmp_path
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"it-{uuid.uuid4().hex[:8]}"
    t0 = now_ms() - 120_000
    flapping = [70.0, 84.9, 85.1, 84.8, 85.2, 84.5, 85.3, 84.2, 86.0]
    records = [reading(machine, t0 + i * 1000, v, plant=PLANT) for i, v in enumerate(flapping)]
    malformed = orjson.dumps(
        {
            "machine_id": machine,
            "ts": "2025-12-20T14:30:00Z",
            "values": {"temperature_c": "hot"},
        }
    )
    records.insert(4, (machine.encode(), malformed))
    records.insert(7, (machine.encode(), b"\x00\xffnot json at all"))
    records.append(
        reading(machine, t0 + 20_000, 84.5, plant=PLANT, quality={"temperature_c": "uncertain"})
    )
    records.append(reading(machine, t0 + 21_000, 83.0, plant=PLANT))
    good_count = len(flapping) + 2

    with running_worker(
        service_env, app_id=f"pl-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path
    ) as proc:
        produce(bootstrap, topics.readings, records)

        alarms = consume_until(
            bootstrap,
            topics.alarms,
            lambda ms: any(decode_alarm(m.value).event == "cleared" for m in ms),
            proc=proc,
        )
        events = [
            decode_alarm(m.value) for m in for_machine(f"{machine}:temperature_c:high", alarms)
        ]
        assert [(e.event, e.value) for e in events] == [("raised", 85.1), ("cleared", 83.0)]
        raised = events[0]
        assert raised.alarm_id == f"{machine}:temperature_c:high"
        assert raised.state == "active_unacknowledged"
        assert raised.message == f"temperature_c 85.1 above 85.0 on machine {machine}"
        assert raised.ts_ms == t0 + 2000

        dead = consume_until(bootstrap, topics.dead_letter, lambda ms: len(ms) >= 2, proc=proc)
        assert all(m.key == machine.encode() for m in dead)
        bodies = [orjson.loads(m.value) for m in dead]
        assert bodies[0]["reason"] == ("temperature_c: sensor value must be a number, got str")
        assert bodies[1]["reason"].startswith("reading: not valid JSON")
        assert bodies[0]["value_text"] == malformed.decode()
        assert bodies[1]["value_text"] is None
        assert [b["source"]["topic"] for b in bodies] == [topics.readings] * 2
        assert bodies[1]["source"]["offset"] == bodies[0]["source"]["offset"] + 3

        readings = poll_flux(
            influx,
            influx.bucket,
            f'r._measurement == "readings" and r.machine_id == "{machine}" '
            'and r._field == "temperature_c"',
            lambda rows: len(rows) >= good_count,
            proc=proc,
        )
        assert [row["_value"] for row in readings] == [*flapping, 84.5, 83.0]
        assert {(row["plant"], row["line"]) for row in readings} == {(PLANT, "3")}
        quality = flux_rows(
            influx,
            influx.bucket,
            f'r.machine_id == "{machine}" and r._field == "temperature_c_quality"',
        )
        assert [row["_value"] for row in quality] == ["uncertain"]

        alarm_rows = poll_flux(
            influx,
            influx.alarms_bucket,
            f'r._measurement == "alarms" and r.machine_id == "{machine}" and r._field == "event"',
            lambda rows: len(rows) >= 2,
            proc=proc,
        )
        assert [row["_value"] for row in alarm_rows] == ["raised", "cleared"]
        assert {(row["sensor"], row["rule"], row["severity"]) for row in alarm_rows} == {
            ("temperature_c", "high", "high")
        }
        messages = flux_rows(
            influx,
            influx.alarms_bucket,
            f'r._measurement == "alarms" and r.machine_id == "{machine}" and r._field == "message"',
        )
        assert messages[0]["_value"] == raised.message


def test_restart_resumes_from_committed_offsets_and_kept_alarm_state(
    common_settings, service_env, influx, tmp_path
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"rs-{uuid.uuid4().hex[:8]}"
    alarm = f"{machine}:temperature_c:high"
    app_id = f"pl-{uuid.uuid4().hex[:6]}"
    t0 = now_ms() - 60_000

    def alarm_events(expected: int):
        messages = consume_until(
            bootstrap, topics.alarms, lambda ms: len(for_machine(alarm, ms)) >= expected
        )
        return [decode_alarm(m.value).event for m in for_machine(alarm, messages)]

    with running_worker(service_env, app_id=app_id, tmp_path=tmp_path):
        produce(
            bootstrap,
            topics.readings,
            [reading(machine, t0, 70.0), reading(machine, t0 + 1000, 90.0)],
        )
        assert alarm_events(1) == ["raised"]
        wait_committed(bootstrap, app_id, topics.readings, 2)

    with running_worker(service_env, app_id=app_id, tmp_path=tmp_path):
        # Still above the clear point: the kept state must not raise a second alarm.
        produce(
            bootstrap,
            topics.readings,
            [reading(machine, t0 + 2000, 91.0), reading(machine, t0 + 3000, 80.0)],
        )
        assert alarm_events(2) == ["raised", "cleared"]
        wait_committed(bootstrap, app_id, topics.readings, 4)

    # A new consumer group replays the whole topic: InfluxDB points overwrite (same series
    # and time), and the alarm events repeat with the same deterministic id.
    with running_worker(service_env, app_id=f"{app_id}-replay", tmp_path=tmp_path):
        assert alarm_events(4) == ["raised", "cleared", "raised", "cleared"]
        wait_committed(bootstrap, f"{app_id}-replay", topics.readings, 4)

    readings = flux_rows(
        influx,
        influx.bucket,
        f'r._measurement == "readings" and r.machine_id == "{machine}"',
    )
    assert [row["_value"] for row in readings] == [70.0, 90.0, 91.0, 80.0]
    alarm_rows = flux_rows(
        influx,
        influx.alarms_bucket,
        f'r._measurement == "alarms" and r.machine_id == "{machine}" and r._field == "event"',
    )
    assert [row["_value"] for row in alarm_rows] == ["raised", "cleared"]


def test_worker_refuses_to_start_without_the_readings_topic(service_env, tmp_path):
    env = dict(
        service_env,
        MILLSTREAM_TOPIC_PREFIX=f"missing-{uuid.uuid4().hex[:6]}",
        MILLSTREAM_PIPELINE_KAFKA_TIMEOUT_MS="2000",
    )
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "worker"],
        cwd=REPO,
        env={**env, "MILLSTREAM_PIPELINE_DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"readings does not exist" in result.stderr


def test_influx_outage_holds_offsets_until_the_batch_is_written(
    common_settings, service_env, influx, tmp_path, unused_tcp_port
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"out-{uuid.uuid4().hex[:8]}"
    app_id = f"pl-{uuid.uuid4().hex[:6]}"
    t0 = now_ms() - 30_000
    values = [70.0, 71.0, 90.0]

    with running_worker(
        service_env,
        app_id=app_id,
        tmp_path=tmp_path,
        MILLSTREAM_INFLUX_URL=f"http://127.0.0.1:{unused_tcp_port}",
    ) as proc:
        produce(
            bootstrap,
            topics.readings,
            [reading(machine, t0 + i * 1000, v) for i, v in enumerate(values)],
        )
        wait_for_log(proc, "batch step failed step=write_readings attempt=2")
        # The worker commits every 0.5 s: give it four rounds to (wrongly) commit.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert committed_total(bootstrap, app_id, topics.readings) == 0
            time.sleep(0.5)

    assert committed_total(bootstrap, app_id, topics.readings) == 0
    assert flux_rows(influx, influx.bucket, f'r.machine_id == "{machine}"') == []

    with running_worker(service_env, app_id=app_id, tmp_path=tmp_path) as proc:
        rows = poll_flux(
            influx,
            influx.bucket,
            f'r.machine_id == "{machine}"',
            lambda rows: len(rows) >= len(values),
            proc=proc,
        )
        assert [row["_value"] for row in rows] == values
        wait_committed(bootstrap, app_id, topics.readings, len(values))
        alarms = consume_until(bootstrap, topics.alarms, lambda ms: len(ms) >= 1, proc=proc)
        assert [decode_alarm(m.value).value for m in alarms] == [90.0]


def test_two_workers_share_partitions_and_hand_over_alarm_state(
    common_settings, service_env, influx, tmp_path
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    app_id = f"pl-{uuid.uuid4().hex[:6]}"
    partitions = partition_count(bootstrap, topics.readings)
    machines = machines_on_every_partition(partitions, 2)
    t0 = now_ms() - 60_000
    produced = 0

    def produce_phase(step: int, temperature: float) -> None:
        nonlocal produced
        produce(
            bootstrap,
            topics.readings,
            [reading(m, t0 + step * 1000, temperature) for m in machines],
        )
        produced += len(machines)

    def events_by_machine(expected_total: int) -> dict[str, list[str]]:
        messages = consume_until(bootstrap, topics.alarms, lambda ms: len(ms) >= expected_total)
        out: dict[str, list[str]] = {m: [] for m in machines}
        for message in messages:
            event = decode_alarm(message.value)
            out[event.machine_id].append(event.event)
        return out

    first = contextlib.ExitStack()
    first.enter_context(running_worker(service_env, app_id=app_id, tmp_path=tmp_path))
    try:
        wait_group(bootstrap, app_id, 1)
        produce_phase(0, 90.0)
        assert events_by_machine(len(machines)) == {m: ["raised"] for m in machines}
        wait_committed(bootstrap, app_id, topics.readings, produced)

        with running_worker(
            service_env,
            app_id=app_id,
            tmp_path=tmp_path,
            MILLSTREAM_PIPELINE_DATA_DIR=str(tmp_path / "second"),
        ):
            wait_group(bootstrap, app_id, 2)
            # Still high: whichever worker owns a machine now must know its alarm is active.
            produce_phase(1, 91.0)
            wait_committed(bootstrap, app_id, topics.readings, produced)
            first.close()
            wait_group(bootstrap, app_id, 1)
            produce_phase(2, 92.0)
            produce_phase(3, 80.0)
            by_machine = events_by_machine(2 * len(machines))
            assert by_machine == {m: ["raised", "cleared"] for m in machines}
            wait_committed(bootstrap, app_id, topics.readings, produced)
    finally:
        first.close()

    # The alarm-state changelog is co-partitioned with the readings: same key, same partition.
    changelog = consume_until(
        bootstrap,
        f"{app_id}-alarm-state-changelog",
        lambda ms: len(ms) >= 2 * len(machines),
    )
    last_state = {}
    for message in changelog:
        machine = message.key.decode()
        assert message.partition == (murmur2(message.key) & 0x7FFFFFFF) % partitions, machine
        last_state[machine] = orjson.loads(message.value)
    assert {
        m: state["alarms"]["temperature_c:high"]["state"] for m, state in last_state.items()
    } == {m: "cleared_unacknowledged" for m in machines}

    rows = flux_rows(
        influx,
        influx.bucket,
        f'r._measurement == "readings" and r.machine_id =~ /^{machines[0][:9]}/',
    )
    assert len(rows) == produced


def test_aggregates_for_a_known_input_and_a_late_reading_counted_stored_and_not_alarmed(
    common_settings, service_env, influx, tmp_path
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"agg-{uuid.uuid4().hex[:8]}"
    minute = 60_000
    w0 = (now_ms() // minute - 30) * minute  # a whole minute, half an hour ago
    values = [10.0, 20.0, 30.0, 40.0]
    records = [reading(machine, w0 + i * 10_000, v) for i, v in enumerate(values)]
    # Reading time moves past the first minute plus the 5 s grace: [w0, w0+1m) closes.
    records.append(reading(machine, w0 + minute + 6_000, 50.0))
    # Then a reading for the closed minute: late, and over the 85 °C alarm limit, but older
    # than the machine's last evaluated reading, so history that raises no alarm.
    records.append(reading(machine, w0 + 30_000, 99.0))
    # A live overheat after it: the first alarm event of the machine must be this one's.
    records.append(reading(machine, w0 + minute + 7_000, 90.0))
    web_port = free_port()

    with running_worker(
        service_env,
        app_id=f"pl-{uuid.uuid4().hex[:6]}",
        tmp_path=tmp_path,
        MILLSTREAM_PIPELINE_WINDOW_HOPPING_S="0",
        MILLSTREAM_PIPELINE_WINDOW_GRACE_MS="5000",
        MILLSTREAM_PIPELINE_WEB_PORT=str(web_port),
    ) as proc:
        produce(bootstrap, topics.readings, records)
        aggregates = consume_until(
            bootstrap,
            topics.aggregates,
            lambda ms: bool(for_machine(machine, ms)),
            proc=proc,
        )
        mine = [orjson.loads(m.value) for m in for_machine(machine, aggregates)]
        assert len(mine) == 1
        agg = mine[0]
        assert agg["window"] == "1m"
        stats = agg["sensors"]["temperature_c"]
        assert stats["count"] == 4
        assert (stats["min"], stats["max"], stats["mean"], stats["last"]) == (
            10.0,
            20.0 * 2,
            25.0,
            40.0,
        )
        assert abs(stats["stddev"] - 11.180339887) < 1e-6
        assert stats["sum"] == 100.0

        # The late reading: counted by the windows, stored all the same, no alarm.
        late = poll_flux(
            influx,
            influx.bucket,
            f'r.machine_id == "{machine}" and r._value == 99.0',
            bool,
            proc=proc,
        )
        assert [row["_time"].timestamp() * 1000 for row in late] == [w0 + 30_000]
        high = f"{machine}:temperature_c:high"
        alarms = consume_until(
            bootstrap, topics.alarms, lambda ms: bool(for_machine(high, ms)), proc=proc
        )
        first = decode_alarm(for_machine(high, alarms)[0].value)
        assert (first.event, first.value) == ("raised", 90.0)
        metrics = httpx.get(f"http://127.0.0.1:{web_port}/windows/metrics/", timeout=10).text
        assert "millstream_window_late_readings_total 1.0" in metrics
        dead = Tail(bootstrap, topics.dead_letter)
        try:
            for _ in range(15):
                dead.poll(200)
        finally:
            dead.close()
        assert not for_machine(machine, dead.messages)

        rows = poll_flux(
            influx,
            influx.aggregates_bucket,
            f'r._measurement == "aggregates" and r.machine_id == "{machine}"',
            lambda rows: len(rows) >= 6,
            proc=proc,
        )
        fields = {r["_field"]: r["_value"] for r in rows}
        assert fields["count"] == 4
        assert fields["mean"] == 25.0
        assert {r["window"] for r in rows} == {"1m"}


def test_hopping_windows_for_a_known_input(common_settings, service_env, influx, tmp_path):
    """Three-minute windows advancing every minute, beside the one-minute tumbling ones:
    each closed window holds exactly the readings of its three minutes, on the topic and in
    the aggregates bucket."""
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"hop-{uuid.uuid4().hex[:8]}"
    minute = 60_000
    w0 = (now_ms() // minute - 30) * minute
    # minute 0: 10, 20; minute 1: 30; minute 2: 40, 50
    at = [(0, 10.0), (30_000, 20.0), (minute + 10_000, 30.0), (2 * minute, 40.0)]
    at.append((2 * minute + 50_000, 50.0))
    records = [reading(machine, w0 + offset, value) for offset, value in at]
    # Reading time passes w0 + 3 min plus the 5 s grace: windows ending by then close.
    records.append(reading(machine, w0 + 3 * minute + 6_000, 60.0))

    with running_worker(
        service_env,
        app_id=f"pl-{uuid.uuid4().hex[:6]}",
        tmp_path=tmp_path,
        MILLSTREAM_PIPELINE_WINDOW_HOPPING_S="180",
        MILLSTREAM_PIPELINE_WINDOW_HOP_S="60",
        MILLSTREAM_PIPELINE_WINDOW_GRACE_MS="5000",
    ) as proc:
        produce(bootstrap, topics.readings, records)

        def hopping(messages):
            bodies = [orjson.loads(m.value) for m in for_machine(machine, messages)]
            return [b for b in bodies if b["window"] == "3m_1m"]

        aggregates = consume_until(
            bootstrap, topics.aggregates, lambda ms: len(hopping(ms)) >= 3, proc=proc
        )
        closed = {b["start"]: b["sensors"]["temperature_c"] for b in hopping(aggregates)}
        stored = poll_flux(
            influx,
            influx.aggregates_bucket,
            f'r.machine_id == "{machine}" and r.window == "3m_1m" and r._field == "count"',
            lambda rows: len(rows) >= 3,
            proc=proc,
        )

    def stats(start_ms):
        return closed[format_ts(start_ms)]

    assert len(closed) == 3, sorted(closed)
    assert (stats(w0 - 2 * minute)["count"], stats(w0 - 2 * minute)["mean"]) == (2, 15.0)
    assert (stats(w0 - minute)["count"], stats(w0 - minute)["max"]) == (3, 30.0)
    whole = stats(w0)
    assert (whole["count"], whole["min"], whole["max"], whole["mean"]) == (5, 10.0, 50.0, 30.0)
    assert whole["last"] == 50.0
    assert sorted(row["_value"] for row in stored) == [2, 3, 5]
