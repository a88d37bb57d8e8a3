"""Faults between the connector and its devices, on the session's Kafka and InfluxDB: a
device power cycle (it stops answering, then comes back with its registers reset) and a
slow, reset and stalled network hop (a proxy of the test's own between connector and
device). The device under test has a simulator of its own; two other devices share a
second one and must not be slowed."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from faultprocs import (
    TopicReadings,
    spool_last_seqs,
    start,
    stop,
    stored_seqs,
    wait_for,
)
from faultproxy import FaultProxy, proxy
from faultrow import Row, count_seqs, seconds, upto

from bench.load import devices_file
from contracts.alarms import COMM_LOSS_SENSOR, decode_alarm
from infra.ports import free_port
from tests.integration.pipelinetools import Tail, running_worker, wait_committed, wait_group

pytestmark = pytest.mark.integration

POLL_S = 0.2


@dataclass
class Rig:
    """Two simulators, one connector and one worker, all running."""

    tmp: Path
    env: dict[str, str]
    device: str
    others: list[str]
    device_port: int
    device_devices: Path
    sims: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    connector: subprocess.Popen[bytes] | None = None

    def stop_feeds(self) -> None:
        """Stop the connector (its spool flushed) and the simulators; the worker runs on."""
        stop(self.connector, *self.sims.values())

    def start_sim(self, name: str, devices: Path) -> None:
        log = self.tmp / f"sim-{name}.log"
        size = log.stat().st_size if log.exists() else 0
        self.sims[name] = start(
            ["-m", "connectors.simulator", "--devices", str(devices), "--overheat-every-s", "0"],
            self.env,
            log,
        )
        wait_for(log, "simulator listening", timeout_s=30, after=size)


def _devices(tmp: Path, machines: list[str], port: int, name: str) -> Path:
    return devices_file(tmp / f"{name}.yaml", machines, port=port, poll_interval_s=POLL_S)


@contextlib.contextmanager
def rig(
    service_env: dict[str, str], tmp: Path, *, via_proxy: bool
) -> Iterator[tuple[Rig, FaultProxy | None, subprocess.Popen[bytes]]]:
    tag = uuid.uuid4().hex[:6]
    device, others = f"dv-{tag}-a", [f"dv-{tag}-b", f"dv-{tag}-c"]
    port_a, port_b = free_port(), free_port()
    a_file = _devices(tmp, [device], port_a, "device")
    b_file = _devices(tmp, others, port_b, "others")
    env = dict(service_env)
    r = Rig(tmp, env, device, others, port_a, a_file)
    with contextlib.ExitStack() as stack:
        hop = stack.enter_context(proxy("127.0.0.1", port_a)) if via_proxy else None
        polled = yaml.safe_load(a_file.read_text())
        if hop is not None:
            polled["devices"][0]["port"] = hop.port
        polled["devices"] += yaml.safe_load(b_file.read_text())["devices"]
        connector_file = tmp / "connector.yaml"
        connector_file.write_text(yaml.safe_dump(polled))
        env.update(
            MILLSTREAM_CONNECTOR_DEVICES_FILE=str(connector_file),
            MILLSTREAM_CONNECTOR_ID=f"dv-{tag}",
            MILLSTREAM_CONNECTOR_SPOOL_DIR=str(tmp / "spool"),
            MILLSTREAM_CONNECTOR_STATS_INTERVAL_S="5",
            MILLSTREAM_CONNECTOR_LINGER_MS="5",
        )
        app_id = f"dv-{tag}"
        worker = stack.enter_context(running_worker(service_env, app_id=app_id, tmp_path=tmp))
        wait_group(env["MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"], app_id, 1)
        r.start_sim("device", a_file)
        r.start_sim("others", b_file)
        connector = r.connector = start(["-m", "connectors"], env, tmp / "connector.log")
        env["APP_ID"] = app_id
        try:
            wait_for(tmp / "connector.log", "kafka connected", timeout_s=60)
            yield r, hop, connector
            assert worker.poll() is None, "the worker exited"
        finally:
            r.stop_feeds()


def _gap_s(tail: TopicReadings, machines: list[str], t0_ms: int, t1_ms: int) -> float:
    """The longest time between two readings of any of ``machines`` within [t0, t1]."""
    worst = 0.0
    for m in machines:
        ts = sorted(t for mm, _, t in tail.records if mm == m and t0_ms <= t <= t1_ms)
        worst = max([worst, *((b - a) / 1000 for a, b in itertools.pairwise(ts))])
    return worst


def _watch(service_env: dict[str, str]) -> tuple[TopicReadings, Tail]:
    """The readings and alarms topics of the test, read from the start."""
    bs = service_env["MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    prefix = service_env["MILLSTREAM_TOPIC_PREFIX"]
    return TopicReadings(bs, f"{prefix}.readings"), Tail(bs, f"{prefix}.alarms")


def _wait_back(tail: TopicReadings, device: str, t_on: int, fault_row: Row) -> None:
    """Wait for the device's first all-good reading after ``t_on``: the recovery time."""
    back = time.monotonic()
    while not any(
        m.machine_id == device and m.ts_ms > t_on and set(m.quality.values()) <= {"good"}
        for m in tail.readings
    ):
        assert time.monotonic() - back < 60, "the device's readings never came back"
        tail.poll()
    fault_row.recovered(time.monotonic() - back)


def _finish(rig_: Rig, influx, fault_row: Row, tail: TopicReadings, alarms: Tail) -> dict:
    """Stop the connector, then count readings (topic and InfluxDB) and the device's
    comm-loss alarm transitions while the worker still runs, so it commits the last ones."""
    rig_.stop_feeds()
    last = spool_last_seqs(rig_.tmp / "spool")
    tail.wait_all(last, timeout_s=60)
    tail.drain()
    machines = [rig_.device, *rig_.others]
    bs = rig_.env["MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    wait_committed(
        bs,
        rig_.env["APP_ID"],
        rig_.env["MILLSTREAM_TOPIC_PREFIX"] + ".readings",
        len(tail.records),
        deadline_s=120,
    )
    in_topic = count_seqs(upto(last), tail.seqs())
    stored = count_seqs(upto(last), stored_seqs(influx, machines, tail.records))
    fault_row.readings(stored, in_topic=in_topic)
    events = [
        decode_alarm(m.value)
        for m in alarms.until(
            lambda ms: any(
                decode_alarm(m.value).event == "cleared"
                and decode_alarm(m.value).machine_id == rig_.device
                for m in ms
            ),
            deadline_s=60,
        )
    ]
    mine = [e for e in events if e.machine_id == rig_.device and e.sensor == COMM_LOSS_SENSOR]
    kinds = [e.event for e in mine]
    ids = {e.alarm_id for e in mine}
    fault_row.alarms(
        count_seqs(
            {i: [1, 2] for i in ids} or {"comm_loss": [1, 2]}, [(e.alarm_id, e.seq) for e in mine]
        )
    )
    fault_row.note(f"comm-loss alarm transitions of the device: {kinds}")
    return {"in_topic": in_topic, "stored": stored, "kinds": kinds}


def test_device_power_cycle(service_env, influx, tmp_path, fault_row: Row) -> None:
    off_s = seconds(10, 30)
    fault_row.describe(
        "device power cycle",
        f"the device's simulator SIGSTOPped (it stops answering) for {off_s:.0f} s, then "
        "killed and started afresh on its port (registers reset); 3 devices polled every "
        f"{POLL_S} s",
        "a comm_loss reading and the comm-loss alarm raised, then cleared when it answers; "
        "good qualities after; the other devices not slowed; no reading lost or duplicated",
    )
    tail, alarms = _watch(service_env)
    try:
        with rig(service_env, tmp_path, via_proxy=False) as (r, _, connector):
            time.sleep(3)
            t_off = int(time.time() * 1000)
            os.kill(r.sims["device"].pid, signal.SIGSTOP)
            time.sleep(off_s)
            r.sims["device"].kill()
            r.sims["device"].wait(timeout=10)
            r.start_sim("device", r.device_devices)
            t_on = int(time.time() * 1000)
            _wait_back(tail, r.device, t_on, fault_row)
            time.sleep(3)
            counted = _finish(r, influx, fault_row, tail, alarms)
        during = [m for m in tail.readings if m.machine_id == r.device and t_off < m.ts_ms < t_on]
        after = [m for m in tail.readings if m.machine_id == r.device and m.ts_ms > t_on + 2000]
        gap_before = _gap_s(tail, r.others, t_off - 3000, t_off)
        gap_during = _gap_s(tail, r.others, t_off, t_on)
        fault_row.note(
            f"the device's readings while off: {len(during)}, qualities "
            f"{sorted({q for m in during for q in m.quality.values()})}; after: qualities "
            f"{sorted({q for m in after for q in m.quality.values()})}; the other devices' "
            f"longest gap {gap_before:.2f} s before, {gap_during:.2f} s during the outage"
        )
    finally:
        tail.close()
        alarms.close()
    assert connector.returncode == 0
    assert (counted["in_topic"].lost, counted["in_topic"].duplicated) == (0, 0)
    assert counted["stored"].lost == 0
    assert any("comm_loss" in m.quality.values() for m in during)
    # "stale" marks a scan late on this loaded machine (the others show it too), not the fault.
    assert after and all(set(m.quality.values()) <= {"good", "stale"} for m in after)
    assert counted["kinds"][:1] == ["raised"] and counted["kinds"][-1] == "cleared"
    assert gap_during <= max(1.0, 2 * gap_before)


def test_slow_reset_and_stalled_hop_to_a_device(
    service_env, influx, tmp_path, fault_row: Row
) -> None:
    phase_s = seconds(5, 15)
    fault_row.describe(
        "slow, reset and stalled network hop connector -> device",
        f"a proxy between connector and one device adds 300 ms per chunk for {phase_s:.0f} s, "
        f"resets every connection, then holds every byte for {phase_s:.0f} s",
        "slow answers are readings (late, not lost); a stalled device is comm_loss, its alarm "
        "raised and cleared; the other devices not slowed; no reading lost or duplicated",
    )
    tail, alarms = _watch(service_env)
    try:
        with rig(service_env, tmp_path, via_proxy=True) as (r, hop, connector):
            assert hop is not None
            time.sleep(3)
            t_off = int(time.time() * 1000)
            hop.latency_s = 0.3
            time.sleep(phase_s)
            hop.latency_s = 0.0
            hop.reset()
            hop.stalled = True
            time.sleep(phase_s)
            hop.stalled = False
            hop.reset()  # the held connection: the connector reconnects
            t_on = int(time.time() * 1000)
            _wait_back(tail, r.device, t_on, fault_row)
            time.sleep(3)
            counted = _finish(r, influx, fault_row, tail, alarms)
        gap_during = _gap_s(tail, r.others, t_off, t_on)
        fault_row.note(
            f"the other devices' longest gap during the faults {gap_during:.2f} s; "
            f"connections reset by the proxy: {hop.resets}"
        )
    finally:
        tail.close()
        alarms.close()
    assert connector.returncode == 0
    assert (counted["in_topic"].lost, counted["in_topic"].duplicated) == (0, 0)
    assert counted["stored"].lost == 0
    assert "raised" in counted["kinds"] and counted["kinds"][-1] == "cleared"
    assert gap_during <= 1.0
