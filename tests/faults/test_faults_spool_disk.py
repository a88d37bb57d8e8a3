"""The connector's spool on a full disk: a 16 MiB tmpfs of the test's own (a user and mount
namespace, ``unshare -rm``: no root needed), filled with a ballast file while the connector
runs on the session's Kafka, then emptied again."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from faultprocs import (
    REPO,
    TopicReadings,
    gauge,
    stop,
    wait_for,
)
from faultrow import Row, count_seqs, seconds, upto

from bench.load import devices_file
from infra.ports import free_port

pytestmark = pytest.mark.integration


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        check=False,
        timeout=30,
    )
    return probe.returncode == 0


def _fill(path: Path) -> int:
    """Write ``path`` until the filesystem is full; return the bytes written."""
    written = 0
    chunk = b"\0" * 16384
    try:
        with path.open("wb") as fh:
            while True:
                fh.write(chunk)
                fh.flush()
                written += len(chunk)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    return written


def test_spool_disk_full(service_env, tmp_path, fault_row: Row) -> None:
    if not _namespaces_work():
        pytest.skip("unshare -rm with a tmpfs is not allowed here: no small filesystem to fill")
    full_s = seconds(6, 20)
    fault_row.describe(
        "disk full for the spool",
        f"the spool on a 16 MiB tmpfs; a ballast file fills it for {full_s:.0f} s while 2 "
        "devices are polled every 0.1 s; then the ballast is deleted",
        "a clear error and a metric; the full-spool policy applied to what cannot be kept "
        "(counted, not silent); the connector keeps running (no crash loop); forwarding "
        "resumes when space returns",
    )
    machines = [f"df-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]
    devices = devices_file(
        tmp_path / "devices.yaml", machines, port=free_port(), poll_interval_s=0.1
    )
    spool = tmp_path / "spool"
    spool.mkdir()
    metrics_port = free_port()
    env = dict(
        service_env,
        MILLSTREAM_CONNECTOR_DEVICES_FILE=str(devices),
        MILLSTREAM_CONNECTOR_ID="disk-full",
        MILLSTREAM_CONNECTOR_SPOOL_DIR=str(spool),
        MILLSTREAM_CONNECTOR_STATS_INTERVAL_S="2",
        MILLSTREAM_CONNECTOR_METRICS_PORT=str(metrics_port),
        MILLSTREAM_CONNECTOR_LINGER_MS="5",
    )
    log = tmp_path / "connector.log"
    sim_log = tmp_path / "sim.log"
    with sim_log.open("wb") as out:
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connectors.simulator",
                "--devices",
                str(devices),
                "--overheat-every-s",
                "0",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_for(sim_log, "simulator listening", timeout_s=30)
    script = f'mount -t tmpfs -o size=16m tmpfs "{spool}" && exec "{sys.executable}" -m connectors'
    with log.open("wb") as out:
        connector = subprocess.Popen(
            ["unshare", "-rm", "sh", "-c", script],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    tail = TopicReadings(
        env["MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"], env["MILLSTREAM_TOPIC_PREFIX"] + ".readings"
    )
    inside = Path(f"/proc/{connector.pid}/root{spool}")
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_for(log, "kafka connected", timeout_s=60)
        time.sleep(2)
        ballast = inside / "ballast"
        fault_row.note(f"ballast {_fill(ballast) // 1024} KiB")
        full_at = time.monotonic()
        size_before = log.stat().st_size
        while time.monotonic() - full_at < full_s:
            assert connector.poll() is None, "the connector exited on a full disk"
            time.sleep(0.5)
        text = log.read_text(errors="replace")[size_before:]
        errors = [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]
        dropped = gauge(metrics, "millstream_connector_spool_dropped_total")
        fault_row.note(
            f"while full: {len(errors)} error lines, first: "
            f"{errors[0][:300] if errors else None}; spool_dropped metric {dropped}"
        )
        ballast.unlink()
        freed = time.monotonic()
        freed_ms = int(time.time() * 1000)
        while not any(m.ts_ms > freed_ms for m in tail.readings):
            assert time.monotonic() - freed < 60, "no reading after the space returned"
            assert connector.poll() is None, "the connector exited"
            tail.poll()
        fault_row.recovered(time.monotonic() - freed)
        time.sleep(2)
        dropped_after = gauge(metrics, "millstream_connector_spool_dropped_total") or 0
        stop(connector)
        tail.drain()
        # The spool went with its filesystem: the last seqs are the last ones delivered.
        last = {m: max(s for mm, s in tail.seqs() if mm == m) for m in machines}
        counted = count_seqs(upto(last), tail.seqs())
    finally:
        stop(connector, sim)
        tail.close()
    fault_row.readings(counted, in_topic=counted)
    fault_row.note(
        f"readings the connector counted as dropped: {dropped_after:.0f}; lost by "
        f"seq in the topic: {counted.lost}"
    )
    fault_row.measured["dropped_counted"] = int(dropped_after)
    assert connector.returncode == 0, log.read_text()[-3000:]
    assert errors, "no error was logged while the spool's disk was full"
    assert counted.duplicated == 0
    assert counted.lost == dropped_after, "readings lost without being counted as dropped"
