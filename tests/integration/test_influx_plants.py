"""Storage past one node: two InfluxDB servers, each holding its plants.

The session's InfluxDB is the default and holds plant hall-a (and every plant not in the
map); a server of this module's own holds hall-b, its token given by reference
(``token_env``). Readings, alarm events and the worker's aggregates go through Kafka and
the real worker; each server is then queried directly, the API answers each plant's
history from the right one, and a reading posted to the API without a plant lands on its
machine's plant's server. Then hall-b's server is stopped: hall-a's points are stored
all the same, and hall-b's arrive once it is back, none lost. ``infra bootstrap`` gives
every server of the map its buckets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from apiserver import ServerThread
from influxdb_client import InfluxDBClient
from influxtools import own_influxdb
from pipelinetools import (
    committed_total,
    flux_rows,
    produce,
    raised_alarm,
    reading,
    running_worker,
    wait_committed,
)

from api.app import create_app
from api.settings import ApiSettings
from contracts.alarms import AlarmEvent
from contracts.machines import MachineInfo
from contracts.settings import CommonSettings
from contracts.timefmt import format_ts
from tests.conftest import InfluxInfo

pytestmark = pytest.mark.integration

TOKEN_VAR = "MILLSTREAM_TEST_INFLUX_TOKEN_HALL_B"
PER_MACHINE = 150
DEADLINE_S = 90.0


@pytest.fixture(scope="module")
def hall_b_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InfluxInfo, int]]:
    with own_influxdb(tmp_path_factory.mktemp("influx-hall-b")) as server:
        yield server


@pytest.fixture
def plants(
    hall_b_influx: tuple[InfluxInfo, int], influx: InfluxInfo, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The map as an operator writes it; the API (in this process) reads the token's
    variable from the environment, the worker from its own."""
    monkeypatch.setenv(TOKEN_VAR, hall_b_influx[0].token)
    return orjson.dumps(
        {"hall-a": influx.url, "hall-b": {"url": hall_b_influx[0].url, "token_env": TOKEN_VAR}}
    ).decode()


@pytest.fixture
def worker_env(service_env: dict[str, str], plants: str, hall_b_influx) -> dict[str, str]:
    return dict(
        service_env,
        MILLSTREAM_INFLUX_PLANTS=plants,
        MILLSTREAM_PIPELINE_INFLUX_TIMEOUT_MS="2000",
        **{TOKEN_VAR: hall_b_influx[0].token},
    )


class Fleet:
    """One machine of each plant (hall-z is in no map), readings with seqs 1..n a second
    apart from an hour ago, so the worker's one-minute windows close behind them."""

    def __init__(self, settings: CommonSettings) -> None:
        tag = uuid.uuid4().hex[:6]
        self.machines = {plant: f"{plant[-1]}{tag}" for plant in ("hall-a", "hall-b", "hall-z")}
        self.settings = settings
        self.t0 = (int(time.time()) - 3600) // 60 * 60 * 1000
        self.produced: dict[str, int] = dict.fromkeys(self.machines.values(), 0)

    def register(self) -> None:
        produce(
            self.settings.kafka_bootstrap_servers,
            self.settings.topics.machines,
            [
                (m.key(), m.encode())
                for m in (MachineInfo(machine_id=mid, plant=p) for p, mid in self.machines.items())
            ],
        )

    def send(self, n: int, plants: tuple[str, ...] = ("hall-a", "hall-b", "hall-z")) -> None:
        records = []
        for plant in plants:
            machine = self.machines[plant]
            first = self.produced[machine] + 1
            records += [
                reading(machine, self.t0 + seq * 1000, 50.0 + seq % 7, plant=plant, seq=seq)
                for seq in range(first, first + n)
            ]
            self.produced[machine] += n
        produce(self.settings.kafka_bootstrap_servers, self.settings.topics.readings, records)

    def alarm(self, plant: str) -> AlarmEvent:
        return raised_alarm(
            self.machines[plant],
            value=56.0,
            threshold=55.0,
            ts_ms=self.t0 + 5000,
            message="temperature_c 56.0 above 55.0",
            plant=plant,
            line="3",
            seq=1,
        )

    @property
    def total(self) -> int:
        return sum(self.produced.values())


def _held(
    server: InfluxInfo, bucket: str, machines: list[str], also: str = "true"
) -> dict[str, int]:
    """Points per machine of ``machines`` in ``bucket`` of ``server`` (distinct times and
    sensors) that pass the Flux filter ``also``."""
    match = " or ".join(f'r.machine_id == "{m}"' for m in machines)
    rows = flux_rows(server, bucket, f"({match}) and {also}")
    times: dict[str, set[Any]] = {m: set() for m in machines}
    for row in rows:
        times[row["machine_id"]].add((row["_time"], row.get("sensor")))
    return {m: len(t) for m, t in times.items()}


def _wait_held(
    server: InfluxInfo, bucket: str, want: dict[str, int], also: str = "true"
) -> dict[str, int]:
    """``_held`` once every machine has at least the points ``want`` gives it."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        held = _held(server, bucket, list(want), also)
        if all(held[m] >= n for m, n in want.items()) or time.monotonic() > deadline:
            return held
        time.sleep(0.5)


def test_each_server_holds_only_its_plants_points_and_the_api_reads_each_from_it(
    common_settings: CommonSettings,
    worker_env,
    plants: str,
    influx: InfluxInfo,
    hall_b_influx: tuple[InfluxInfo, int],
    admin_key: str,
    tmp_path: Path,
) -> None:
    hall_b = hall_b_influx[0]
    fleet = Fleet(common_settings)
    a, b, z = (fleet.machines[p] for p in ("hall-a", "hall-b", "hall-z"))
    fleet.register()
    fleet.send(PER_MACHINE)
    produce(
        common_settings.kafka_bootstrap_servers,
        common_settings.topics.alarms,
        [(e.key(), e.encode()) for e in (fleet.alarm("hall-a"), fleet.alarm("hall-b"))],
    )
    app_id = f"pl-{uuid.uuid4().hex[:6]}"
    with running_worker(worker_env, app_id=app_id, tmp_path=tmp_path):
        wait_committed(
            common_settings.kafka_bootstrap_servers,
            app_id,
            common_settings.topics.readings,
            fleet.total,
        )
        wait_committed(
            common_settings.kafka_bootstrap_servers, app_id, common_settings.topics.alarms, 2
        )
        _each_server_holds_its_plants(influx, hall_b, a, b, z)
        settings = ApiSettings(
            **common_settings.model_dump(exclude={"influx_plants"}),
            influx_plants=plants,
            admin_api_key=admin_key,
        )
        with (
            ServerThread(create_app(settings)) as api,
            httpx.Client(base_url=api.url, headers={"X-API-Key": admin_key}, timeout=30) as http,
        ):
            _the_api_reads_each_plant_from_its_server(http, a, b, z)
            # A reading posted without a plant takes its machine's, and its server.
            at_ms = fleet.t0 + 3_600_000 - 60_000
            posted = http.post(
                "/api/readings",
                json={"machine_id": b, "timestamp": format_ts(at_ms), "temperature_c": 49.0},
            )
            assert posted.status_code == 201, posted.text
            assert _wait_held(hall_b, hall_b.bucket, {b: PER_MACHINE + 1})[b] == PER_MACHINE + 1
            assert _held(influx, influx.bucket, [b]) == {b: 0}
            # Stored as acknowledged: its value, at its time, tagged with its machine's plant.
            rows = flux_rows(hall_b, hall_b.bucket, f'r.machine_id == "{b}"')
            at = datetime.fromtimestamp(at_ms / 1000, UTC)
            stored = [(r["_field"], r["_value"], r["plant"]) for r in rows if r["_time"] == at]
            assert stored == [("temperature_c", 49.0, "hall-b")]


def _each_server_holds_its_plants(
    influx: InfluxInfo, hall_b: InfluxInfo, a: str, b: str, z: str
) -> None:
    # Readings: every one on its plant's server, none on the other.
    n = PER_MACHINE
    assert _held(influx, influx.bucket, [a, b, z]) == {a: n, b: 0, z: n}
    assert _held(hall_b, hall_b.bucket, [a, b, z]) == {a: 0, b: n, z: 0}
    # Alarm rows likewise.
    assert _held(influx, influx.alarms_bucket, [a, b]) == {a: 1, b: 0}
    assert _held(hall_b, hall_b.alarms_bucket, [a, b]) == {a: 0, b: 1}
    # The worker's one-minute windows of 150 s of readings: two closed by the readings
    # (the third too once the machine has been silent for a while).
    minute = 'r.window == "1m"'
    held = _wait_held(influx, influx.aggregates_bucket, {a: 2, b: 0, z: 2}, minute)
    assert held[a] >= 2 and held[z] >= 2 and held[b] == 0, held
    held = _wait_held(hall_b, hall_b.aggregates_bucket, {a: 0, b: 2, z: 0}, minute)
    assert held[b] >= 2 and held[a] == held[z] == 0, held


def _the_api_reads_each_plant_from_its_server(http: httpx.Client, a: str, b: str, z: str) -> None:
    for machine in (a, b, z):
        got = http.get(f"/api/machines/{machine}/readings", params={"start": "-2h"})
        assert got.status_code == 200, got.text
        assert len(got.json()["points"]) == PER_MACHINE, machine
        aggs = http.get(f"/api/machines/{machine}/aggregates", params={"start": "-2h"})
        assert aggs.status_code == 200, aggs.text
        assert aggs.json()["points"], machine
    journal = http.get("/api/alarms/journal", params={"start": "-2h", "machine_id": b})
    assert [e["machine_id"] for e in journal.json()["events"]] == [b]
    # Every plant: both servers asked; one plant: its server.
    fleet_all = http.get("/api/latest", params={"start": "-2h"}).json()["machines"]
    assert {a, b, z} <= {str(m["machine_id"]) for m in fleet_all}
    only_b = http.get("/api/latest", params={"start": "-2h", "plant": "hall-b"}).json()
    assert [str(m["machine_id"]) for m in only_b["machines"]] == [b]


def test_one_plants_server_away_stores_the_others_and_loses_none(
    common_settings: CommonSettings,
    worker_env,
    influx: InfluxInfo,
    hall_b_influx: tuple[InfluxInfo, int],
    tmp_path: Path,
) -> None:
    hall_b, pid = hall_b_influx
    fleet = Fleet(common_settings)
    a, b = fleet.machines["hall-a"], fleet.machines["hall-b"]
    bs, topic = common_settings.kafka_bootstrap_servers, common_settings.topics.readings
    app_id = f"pl-{uuid.uuid4().hex[:6]}"
    # One batch takes the whole burst below (it is all read within two seconds).
    with running_worker(
        worker_env, app_id=app_id, tmp_path=tmp_path, MILLSTREAM_PIPELINE_BATCH_MAX_WAIT_MS="2000"
    ):
        fleet.send(10, ("hall-a", "hall-b"))
        wait_committed(bs, app_id, topic, fleet.total)
        os.kill(pid, signal.SIGSTOP)
        try:
            fleet.send(PER_MACHINE, ("hall-a", "hall-b"))
            # hall-a's points are written while hall-b's server does not answer ...
            assert _wait_held(influx, influx.bucket, {a: 10 + PER_MACHINE}) == {a: 10 + PER_MACHINE}
            time.sleep(3)
            # ... but nothing past hall-b's unwritten points is committed.
            committed = committed_total(bs, app_id, topic)
            assert committed < fleet.total, committed
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_committed(bs, app_id, topic, fleet.total)
        assert _held(hall_b, hall_b.bucket, [a, b]) == {a: 0, b: 10 + PER_MACHINE}
        assert _held(influx, influx.bucket, [a, b]) == {a: 10 + PER_MACHINE, b: 0}


def test_bootstrap_gives_every_server_of_the_map_the_buckets(
    worker_env: dict[str, str], influx: InfluxInfo, hall_b_influx: tuple[InfluxInfo, int]
) -> None:
    tag = uuid.uuid4().hex[:6]
    names = {
        f"MILLSTREAM_INFLUX_{kind}BUCKET": f"{kind.lower() or 'raw_'}{tag}"
        for kind in ("", "AGGREGATES_", "ALARMS_", "AUDIT_")
    }
    done = subprocess.run(
        [sys.executable, "-m", "infra", "bootstrap"],
        env={**worker_env, **names},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "buckets ready on 2 InfluxDB server(s)" in done.stderr
    for server in (influx, hall_b_influx[0]):
        with InfluxDBClient(url=server.url, token=server.token, org=server.org) as client:
            buckets = client.buckets_api()
            found = [buckets.find_bucket_by_name(name) for name in names.values()]
            assert None not in found, server.url
            for bucket in found:
                buckets.delete_bucket(bucket)
