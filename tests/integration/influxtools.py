"""An InfluxDB server of a test module's own, beside the session's (for a fault it injects,
or a second server a plant's points go to).

Imported as ``from influxtools import own_influxdb`` (this directory is on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from infra import bootstrap, influxdb_server, processes
from infra.influxdb_dist import provision_influxdb
from infra.ports import free_port
from infra.settings import InfraSettings
from tests.conftest import InfluxInfo


@contextlib.contextmanager
def own_influxdb(run_dir: Path) -> Iterator[tuple[InfluxInfo, int]]:
    """Start, onboard and give the usual buckets to an InfluxDB on a free loopback port;
    yields its info and its pid, and stops it (resumed first, if stopped) on exit."""
    infra = InfraSettings(run_dir=run_dir)
    influxd = provision_influxdb(infra.cache_dir, console=Console(stderr=True))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = influxdb_server.start_influxdb(influxd, run_dir=run_dir, host="127.0.0.1", port=port)
    try:
        influxdb_server.wait_healthy(url, run_dir=run_dir, timeout_s=60)
        onboarded = influxdb_server.onboard(
            url, org="millstream", bucket="telemetry", retention_days=30
        )
        assert onboarded is not None
        token = onboarded[0]
        bootstrap.ensure_buckets(
            url, token, org="millstream", retention_days=infra.bucket_retention_days()
        )
        yield (
            InfluxInfo(
                url=url,
                token=token,
                org="millstream",
                bucket="telemetry",
                aggregates_bucket="aggregates",
                alarms_bucket="alarms",
                audit_bucket="audit",
            ),
            proc.pid,
        )
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        processes.stop(run_dir, influxdb_server.NAME)
        proc.wait(timeout=30)
