"""InfluxDB faults, on an InfluxDB of this module's own (so no other test is affected):
stopped (SIGSTOP) for a minute, refusing writes (503), and a slow, reset and stalled hop
between the worker and InfluxDB (a proxy of the test's own). The readings are produced by
the test with seqs 1..n; what InfluxDB holds is counted against them."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from faultprocs import stored_times
from faultproxy import FaultProxy, proxy
from faultrow import Row, SeqCount, count_seqs, seconds

from contracts.alarms import decode_alarm
from tests.conftest import InfluxInfo
from tests.integration.influxtools import own_influxdb
from tests.integration.pipelinetools import (
    Tail,
    committed_total,
    consume_until,
    poll_flux,
    produce,
    reading,
    running_worker,
    wait_committed,
)

pytestmark = pytest.mark.integration

COMMIT_DEADLINE_S = 180.0


@pytest.fixture(scope="module")
def own_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InfluxInfo, int]]:
    """A separate InfluxDB for this module; yields its info and its pid."""
    with own_influxdb(tmp_path_factory.mktemp("own-influx")) as server:
        yield server


class Readings:
    """Readings of one machine with seqs 1, 2, 3, ... and timestamps 10 ms apart."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.machine = f"if-{uuid.uuid4().hex[:8]}"
        self.bootstrap, self.topic = bootstrap_servers, topic
        self.t0 = int(time.time() * 1000) - 3_600_000
        self.produced = 0

    def burst(self, n: int) -> None:
        first = self.produced + 1
        produce(
            self.bootstrap,
            self.topic,
            [
                reading(self.machine, self.t0 + seq * 10, 50.0 + seq % 7, seq=seq)
                for seq in range(first, first + n)
            ],
        )
        self.produced += n

    def stored(self, influx: InfluxInfo) -> SeqCount:
        times = stored_times(influx, [self.machine], bucket=influx.bucket)
        arrived = [
            (self.machine, seq)
            for seq in range(1, self.produced + 1)
            if (self.machine, self.t0 + seq * 10) in times
        ]
        return count_seqs({self.machine: range(1, self.produced + 1)}, arrived)

    def wait_stored(self, influx: InfluxInfo, *, timeout_s: float = 90) -> SeqCount:
        deadline = time.monotonic() + timeout_s
        while (c := self.stored(influx)).lost and time.monotonic() < deadline:
            time.sleep(0.5)
        return c


def _env(service_env: dict[str, str], influx: InfluxInfo, url: str = "") -> dict[str, str]:
    return dict(
        service_env,
        MILLSTREAM_INFLUX_URL=url or influx.url,
        MILLSTREAM_INFLUX_TOKEN=influx.token,
        MILLSTREAM_INFLUX_ORG=influx.org,
    )


@contextlib.contextmanager
def _worker_via_proxy(
    settings, service_env: dict[str, str], influx: InfluxInfo, tmp_path: Path, **extra: str
) -> Iterator[tuple[FaultProxy, Readings, str]]:
    """A worker writing to InfluxDB through a fault proxy, 500 readings stored first."""
    bs = settings.kafka_bootstrap_servers
    data = Readings(bs, settings.topics.readings)
    app_id = f"pl-{uuid.uuid4().hex[:6]}"
    host, port = influx.url.removeprefix("http://").split(":")
    with (
        proxy(host, int(port)) as hop,
        running_worker(
            _env(service_env, influx, f"http://{hop.address}"),
            app_id=app_id,
            tmp_path=tmp_path,
            MILLSTREAM_PIPELINE_RETRY_BACKOFF_MAX_MS="2000",
            **extra,
        ),
    ):
        data.burst(500)
        wait_committed(
            bs, app_id, settings.topics.readings, data.produced, deadline_s=COMMIT_DEADLINE_S
        )
        yield hop, data, app_id


def _recovered(settings, app_id: str, expected: int, fault_row: Row) -> None:
    """Wait until every record is committed; the row's recovery time is how long it took."""
    resumed = time.monotonic()
    wait_committed(
        settings.kafka_bootstrap_servers,
        app_id,
        settings.topics.readings,
        expected,
        deadline_s=COMMIT_DEADLINE_S,
    )
    fault_row.recovered(time.monotonic() - resumed)


def test_influx_stopped_loses_nothing(
    common_settings, service_env, own_influx, tmp_path, fault_row: Row
) -> None:
    influx, influx_pid = own_influx
    outage_s = seconds(15, 60)
    fault_row.describe(
        "InfluxDB stopped",
        f"SIGSTOP of influxd for {outage_s:.0f} s (it neither answers nor refuses) while "
        "2,000 readings are produced every 5 s and one machine overheats",
        "nothing committed past what InfluxDB accepted; the alarm raised at once, not "
        "waiting for storage; afterwards every reading stored and the alarm's row written",
    )
    topics = common_settings.topics
    bs = common_settings.kafka_bootstrap_servers
    data = Readings(bs, topics.readings)
    hot = f"hot-{uuid.uuid4().hex[:8]}"
    app_id = f"pl-{uuid.uuid4().hex[:6]}"
    with running_worker(
        _env(service_env, influx),
        app_id=app_id,
        tmp_path=tmp_path,
        MILLSTREAM_PIPELINE_INFLUX_TIMEOUT_MS="2000",
        MILLSTREAM_PIPELINE_RETRY_BACKOFF_MAX_MS="2000",
    ) as proc:
        data.burst(500)
        wait_committed(bs, app_id, topics.readings, data.produced, deadline_s=COMMIT_DEADLINE_S)
        os.kill(influx_pid, signal.SIGSTOP)
        try:
            stopped_at = time.monotonic()
            committed_before = committed_total(bs, app_id, topics.readings)
            data.burst(2_000)
            produce(bs, topics.readings, [reading(hot, int(time.time() * 1000), 95.0, seq=1)])
            raised = consume_until(
                bs,
                topics.alarms,
                lambda ms: any(orjson.loads(m.value)["machine_id"] == hot for m in ms),
                proc=proc,
                deadline_s=15,
            )
            events = [decode_alarm(m.value) for m in raised]
            mine = [(e.alarm_id, e.seq) for e in events if e.machine_id == hot]
            fault_row.note(f"alarm raised {time.monotonic() - stopped_at:.1f} s into the outage")
            while time.monotonic() - stopped_at < outage_s:
                data.burst(2_000)
                time.sleep(min(5.0, max(0.0, outage_s - (time.monotonic() - stopped_at))))
            committed_during = committed_total(bs, app_id, topics.readings)
        finally:
            os.kill(influx_pid, signal.SIGCONT)
        _recovered(common_settings, app_id, data.produced + 1, fault_row)
        stored = data.wait_stored(influx)
        alarm_rows = poll_flux(
            influx,
            influx.alarms_bucket,
            f'r._measurement == "alarms" and r.machine_id == "{hot}" '
            'and r.sensor == "temperature_c" and r._field == "event"',
            lambda rows: len(rows) >= 1,
            proc=proc,
        )
    fault_row.readings(stored)
    fault_row.alarms(count_seqs({mine[0][0]: [1]} if mine else {"?": [1]}, mine))
    fault_row.note(f"alarm rows stored: {[r['_value'] for r in alarm_rows]}")
    assert committed_during == committed_before
    assert [e for e in mine] == [(mine[0][0], 1)]
    assert stored.lost == 0
    assert [r["_value"] for r in alarm_rows] == ["raised"]


def test_influx_refusing_writes_applies_backpressure(
    common_settings, service_env, own_influx, tmp_path, fault_row: Row
) -> None:
    influx, _ = own_influx
    refuse_s = seconds(10, 30)
    fault_row.describe(
        "InfluxDB refusing writes",
        f"every write answered 503 (a proxy in front of InfluxDB) for {refuse_s:.0f} s "
        "while 1,000 readings are produced every 2 s",
        "backpressure: no offset committed past the refused batches, nothing dead-lettered; "
        "every reading stored once writes are accepted again",
    )
    topics = common_settings.topics
    bs = common_settings.kafka_bootstrap_servers
    with _worker_via_proxy(common_settings, service_env, influx, tmp_path) as (hop, data, app_id):
        hop.refuse_http_writes = True
        refused_at = time.monotonic()
        committed_before = committed_total(bs, app_id, topics.readings)
        while time.monotonic() - refused_at < refuse_s:
            data.burst(1_000)
            time.sleep(2)
        committed_during = committed_total(bs, app_id, topics.readings)
        hop.refuse_http_writes = False
        _recovered(common_settings, app_id, data.produced, fault_row)
        stored = data.wait_stored(influx)
        dead_tail = Tail(bs, topics.dead_letter)
        for _ in range(10):
            dead_tail.poll(300)
        dead = dead_tail.messages
        dead_tail.close()
    fault_row.readings(stored)
    fault_row.note(f"writes refused by the proxy: {hop.refused}; dead letters: {len(dead)}")
    assert hop.refused > 0
    assert committed_during == committed_before
    assert stored.lost == 0
    assert dead == []


def test_slow_reset_and_stalled_hop_to_influx(
    common_settings, service_env, own_influx, tmp_path, fault_row: Row
) -> None:
    influx, _ = own_influx
    phase_s = seconds(6, 20)
    fault_row.describe(
        "slow, reset and stalled network hop worker -> InfluxDB",
        f"a proxy between worker and InfluxDB adds 300 ms per chunk for {phase_s:.0f} s, then "
        f"resets every connection, then holds every byte (a stalled connection) for "
        f"{phase_s:.0f} s",
        "writes slow down and are retried, nothing committed before it is stored; every "
        "reading stored once the hop is healthy",
    )
    topics = common_settings.topics
    bs = common_settings.kafka_bootstrap_servers
    with _worker_via_proxy(
        common_settings, service_env, influx, tmp_path, MILLSTREAM_PIPELINE_INFLUX_TIMEOUT_MS="3000"
    ) as (hop, data, app_id):
        hop.latency_s = 0.3
        t0 = time.monotonic()
        while time.monotonic() - t0 < phase_s:
            data.burst(500)
            time.sleep(1)
        hop.latency_s = 0.0
        hop.reset()
        data.burst(500)
        hop.stalled = True
        t0 = time.monotonic()
        committed_before = committed_total(bs, app_id, topics.readings)
        while time.monotonic() - t0 < phase_s:
            data.burst(500)
            time.sleep(1)
        committed_during = committed_total(bs, app_id, topics.readings)
        hop.stalled = False
        _recovered(common_settings, app_id, data.produced, fault_row)
        stored = data.wait_stored(influx)
    fault_row.readings(stored)
    fault_row.note(f"committed while stalled: {committed_during - committed_before} records")
    assert stored.lost == 0
