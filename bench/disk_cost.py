"""What a reading costs on disk in InfluxDB, measured: compressed bytes per point.

``python -m bench.disk_cost [--seconds 3600] [--hz 100] [--sensors 8]`` starts an InfluxDB
of its own (a temporary directory, a free loopback port, stopped and deleted at the end)
that snapshots and fully compacts its shards within seconds instead of hours, writes one
machine's readings as the pipeline writes them (measurement ``readings``, tags ``plant``,
``line``, ``machine_id``, one float field per sensor, float32 values as Modbus delivers
them), waits until the TSM files stop changing and prints the bytes per point on disk.
The figure feeds the retention sizing in docs/operations.md.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from infra import influxdb_server
from infra.ports import free_port
from infra.settings import InfraSettings

HOST = "127.0.0.1"
BATCH_LINES = 5_000


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _lines(*, seconds: int, hz: int, sensors: int, start_ns: int) -> list[str]:
    """One machine's readings: slow signals with noise, as float32 like a Modbus device's."""
    rng = random.Random(42)
    step_ns = 1_000_000_000 // hz
    lines = []
    for i in range(seconds * hz):
        t = i / hz
        fields = ",".join(
            f"s{k}={_float32(50 + 10 * k + 5 * math.sin(t / (60 + k)) + rng.gauss(0, 0.2))!r}"
            for k in range(sensors)
        )
        lines.append(
            f"readings,line=Line\\ 3,machine_id=42,plant=Hall\\ B {fields} {start_ns + i * step_ns}"
        )
    return lines


def _tsm_bytes(engine: Path) -> int:
    return sum(p.stat().st_size for p in engine.rglob("*.tsm"))


def measure(*, seconds: int, hz: int, sensors: int) -> dict[str, float]:
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    influxd = InfraSettings().cache_dir / "influxdb-2.7.12" / "influxd"
    run_dir = Path(tempfile.mkdtemp(prefix="millstream-disk-cost-"))
    port = free_port(HOST)
    url = f"http://{HOST}:{port}"
    engine = run_dir / "engine"
    proc = subprocess.Popen(
        [
            str(influxd),
            "--bolt-path", str(run_dir / "influxd.bolt"),
            "--engine-path", str(engine),
            "--sqlite-path", str(run_dir / "influxd.sqlite"),
            "--http-bind-address", f"{HOST}:{port}",
            "--reporting-disabled",
            "--log-level", "error",
            "--storage-cache-snapshot-write-cold-duration", "2s",
            "--storage-compact-full-write-cold-duration", "5s",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not influxdb_server.is_healthy(url):
            assert proc.poll() is None and time.monotonic() < deadline, "influxd did not start"
            time.sleep(0.3)
        onboarded = influxdb_server.onboard(url, org="bench", bucket="telemetry", retention_days=0)
        assert onboarded is not None
        token = onboarded[0]
        start_ns = 1_766_188_800_000_000_000  # 2025-12-20T00:00:00Z
        lines = _lines(seconds=seconds, hz=hz, sensors=sensors, start_ns=start_ns)
        with InfluxDBClient(url=url, token=token, org="bench", timeout=120_000) as client:
            write = client.write_api(write_options=SYNCHRONOUS)
            for at in range(0, len(lines), BATCH_LINES):
                write.write(bucket="telemetry", record=lines[at : at + BATCH_LINES])
        # Snapshot and full compaction run once the shard is cold; wait until files settle.
        size, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 20:
            time.sleep(2)
            now_size = _tsm_bytes(engine)
            if now_size != size or not now_size:
                size, stable_since = now_size, time.monotonic()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(run_dir, ignore_errors=True)
    points = seconds * hz * sensors
    return {"points": points, "tsm_bytes": size, "bytes_per_point": size / points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--hz", type=int, default=100)
    parser.add_argument("--sensors", type=int, default=8)
    args = parser.parse_args()
    result = measure(seconds=args.seconds, hz=args.hz, sensors=args.sensors)
    print(
        f"{result['points']:,} points ({args.sensors} sensors at {args.hz} Hz for "
        f"{args.seconds} s): {result['tsm_bytes']:,} bytes of TSM, "
        f"{result['bytes_per_point']:.2f} bytes per point"
    )


if __name__ == "__main__":
    main()
