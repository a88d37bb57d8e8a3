"""The local Kafka + InfluxDB pair: up (idempotent), down, status, connection settings.

The run directory keeps each server's data, logs, pid files and ``state.json`` (ports,
InfluxDB token), so ``up`` after ``down`` finds the same data on the same ports.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console

from infra import bootstrap, influxdb_server, kafka_server, ports, processes
from infra.errors import InfraError
from infra.influx_cli_dist import provision_influx_cli
from infra.influxdb_dist import provision_influxdb
from infra.kafka_dist import KafkaDist, provision_kafka
from infra.settings import InfraSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Connection:
    """How Millstream's services reach the local servers."""

    kafka_bootstrap: str
    influx_url: str
    influx_token: str
    influx_org: str
    influx_bucket: str
    influx_aggregates_bucket: str
    influx_alarms_bucket: str
    influx_audit_bucket: str
    topic_prefix: str

    def env(self) -> dict[str, str]:
        """The ``MILLSTREAM_*`` variables every service reads."""
        return {
            "MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "MILLSTREAM_INFLUX_URL": self.influx_url,
            "MILLSTREAM_INFLUX_TOKEN": self.influx_token,
            "MILLSTREAM_INFLUX_ORG": self.influx_org,
            "MILLSTREAM_INFLUX_BUCKET": self.influx_bucket,
            "MILLSTREAM_INFLUX_AGGREGATES_BUCKET": self.influx_aggregates_bucket,
            "MILLSTREAM_INFLUX_ALARMS_BUCKET": self.influx_alarms_bucket,
            "MILLSTREAM_INFLUX_AUDIT_BUCKET": self.influx_audit_bucket,
            "MILLSTREAM_TOPIC_PREFIX": self.topic_prefix,
        }

    def influx_cli_env(self) -> dict[str, str]:
        """The variables InfluxData's ``influx`` CLI reads, for this stack."""
        return {
            "INFLUX_HOST": self.influx_url,
            "INFLUX_TOKEN": self.influx_token,
            "INFLUX_ORG": self.influx_org,
        }


@dataclass(slots=True)
class _State:
    kafka_port: int
    controller_port: int
    influx_port: int
    influx_token: str = ""
    influx_password: str = ""


class LocalServers:
    """A Kafka broker and an InfluxDB server under one run directory."""

    def __init__(self, settings: InfraSettings, *, console: Console | None = None) -> None:
        self._settings = settings
        self._run_dir = settings.run_dir.resolve()
        self._console = console or Console(stderr=True, soft_wrap=True)
        # Servers this object started; kept so they can be reaped when stopped.
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def run_dir(self) -> Path:
        return self._run_dir

    def provision(self) -> tuple[KafkaDist, Path]:
        """Make sure both servers, and the ``influx`` CLI beside InfluxDB, are built and
        cached (only the first run pays)."""
        cache = self._settings.cache_dir
        kafka = provision_kafka(cache, console=self._console)
        influxd = provision_influxdb(cache, console=self._console)
        provision_influx_cli(cache, console=self._console)
        return kafka, influxd

    def up(self) -> Connection:
        """Start whatever is not running, wait for health, bootstrap; safe to call twice."""
        kafka_dist, influxd = self.provision()
        self._run_dir.mkdir(parents=True, exist_ok=True)
        state = self._load_or_choose_ports()
        host = self._settings.host
        timeout_s = self._settings.start_timeout_s
        bootstrap_servers = f"{host}:{state.kafka_port}"
        influx_url = f"http://{host}:{state.influx_port}"
        if processes.read_pid(self._run_dir, kafka_server.NAME) is None:
            self._console.print(f"Starting Kafka on {bootstrap_servers}")
            self._children[kafka_server.NAME] = kafka_server.start_kafka(
                kafka_dist,
                run_dir=self._run_dir,
                host=host,
                port=state.kafka_port,
                controller_port=state.controller_port,
                heap_mb=self._settings.kafka_heap_mb,
            )
        if processes.read_pid(self._run_dir, influxdb_server.NAME) is None:
            self._console.print(f"Starting InfluxDB on {influx_url}")
            self._children[influxdb_server.NAME] = influxdb_server.start_influxdb(
                influxd, run_dir=self._run_dir, host=host, port=state.influx_port
            )
        influxdb_server.wait_healthy(influx_url, run_dir=self._run_dir, timeout_s=timeout_s)
        onboarded = influxdb_server.onboard(
            influx_url,
            org=self._settings.influx_org,
            bucket=self._settings.influx_bucket,
            retention_days=self._settings.influx_retention_days,
        )
        if onboarded is not None:
            state.influx_token, state.influx_password = onboarded
        if not state.influx_token:
            raise InfraError(
                f"InfluxDB under {self._run_dir / 'influxdb'} was onboarded by another run and "
                f"its token is lost: run 'python -m infra down --purge' to start afresh"
            )
        self._save(state)
        bootstrap.ensure_buckets(
            influx_url,
            state.influx_token,
            org=self._settings.influx_org,
            retention_days=self._settings.bucket_retention_days(),
        )
        kafka_server.wait_healthy(bootstrap_servers, run_dir=self._run_dir, timeout_s=timeout_s)
        bootstrap.create_millstream_topics(
            bootstrap_servers,
            prefix=self._settings.topic_prefix,
            stream_partitions=self._settings.stream_partitions,
        )
        return self._connection(state)

    def down(self, *, purge: bool = False) -> list[str]:
        """Stop both servers; with ``purge`` also delete their data. Returns what was stopped."""
        stopped = [
            name
            for name in (influxdb_server.NAME, kafka_server.NAME)
            if processes.stop(self._run_dir, name, timeout_s=30)
        ]
        for child in self._children.values():
            child.wait(timeout=10)
        self._children.clear()
        if purge:
            import shutil

            for sub in ("kafka", "influxdb", "state.json"):
                path = self._run_dir / sub
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, str]:
        state = self._load()
        result: dict[str, str] = {}
        for name, port in (
            (kafka_server.NAME, state.kafka_port if state else 0),
            (influxdb_server.NAME, state.influx_port if state else 0),
        ):
            pid = processes.read_pid(self._run_dir, name)
            result[name] = (
                f"running pid={pid} address={self._settings.host}:{port}"
                if pid is not None
                else "stopped"
            )
        return result

    def connection(self) -> Connection:
        state = self._load()
        if state is None or not state.influx_token:
            raise InfraError(
                f"no local stack under {self._run_dir}: run 'python -m infra up' first"
            )
        return self._connection(state)

    def _connection(self, state: _State) -> Connection:
        host = self._settings.host
        return Connection(
            kafka_bootstrap=f"{host}:{state.kafka_port}",
            influx_url=f"http://{host}:{state.influx_port}",
            influx_token=state.influx_token,
            influx_org=self._settings.influx_org,
            influx_bucket=self._settings.influx_bucket,
            influx_aggregates_bucket=self._settings.influx_aggregates_bucket,
            influx_alarms_bucket=self._settings.influx_alarms_bucket,
            influx_audit_bucket=self._settings.influx_audit_bucket,
            topic_prefix=self._settings.topic_prefix,
        )

    def _state_path(self) -> Path:
        return self._run_dir / "state.json"

    def _load(self) -> _State | None:
        try:
            return _State(**json.loads(self._state_path().read_text()))
        except FileNotFoundError:
            return None

    def _save(self, state: _State) -> None:
        path = self._state_path()
        path.write_text(json.dumps(asdict(state), indent=2))
        os.chmod(path, 0o600)

    def _load_or_choose_ports(self) -> _State:
        """Reuse the ports of an earlier run where possible; honour configured ports."""
        s = self._settings
        host = s.host
        state = self._load()
        kafka_running = processes.read_pid(self._run_dir, kafka_server.NAME) is not None
        influx_running = processes.read_pid(self._run_dir, influxdb_server.NAME) is not None

        def pick(configured: int, previous: int | None, running: bool) -> int:
            if configured:
                return configured
            if previous and (running or ports.is_free(host, previous)):
                return previous
            return ports.free_port(host)

        new = _State(
            kafka_port=pick(s.kafka_port, state.kafka_port if state else None, kafka_running),
            controller_port=pick(0, state.controller_port if state else None, kafka_running),
            influx_port=pick(s.influx_port, state.influx_port if state else None, influx_running),
            influx_token=state.influx_token if state else "",
            influx_password=state.influx_password if state else "",
        )
        self._save(new)
        return new
