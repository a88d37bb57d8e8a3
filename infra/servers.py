"""The local Kafka + InfluxDB pair: up (idempotent), down, status, connection settings.

Kafka is one broker, or with ``MILLSTREAM_KAFKA_BROKERS=3`` a replicated cluster
(:mod:`infra.kafka_server`); with ``MILLSTREAM_REDIS=1`` a Redis server runs beside them for
the API replicas' shared rate limits. The run directory keeps each server's data, logs, pid
files and ``state.json`` (ports, InfluxDB token), so ``up`` after ``down`` finds the same
data on the same ports.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console

from contracts.topics import Replication
from infra import bootstrap, influxdb_server, kafka_server, ports, processes, redis_server
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
    # Set when the stack runs Redis / several brokers; absent from env() otherwise.
    rate_limit_storage_uri: str = ""
    replication_factor: int = 1

    def env(self) -> dict[str, str]:
        """The ``MILLSTREAM_*`` variables every service reads."""
        env = {
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
        if self.rate_limit_storage_uri:
            env["MILLSTREAM_API_RATE_LIMIT_STORAGE_URI"] = self.rate_limit_storage_uri
        if self.replication_factor > 1:
            # Faust's changelog and repartition topics, as the bootstrap's topics.
            env["MILLSTREAM_PIPELINE_REPLICATION_FACTOR"] = str(self.replication_factor)
        return env

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
    # [port, controller port] of each node of a multi-broker cluster (kafka-central-<i>).
    cluster_ports: list[list[int]] = field(default_factory=list)
    redis_port: int = 0


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    """One server process, as ``python -m infra status`` reports it."""

    name: str
    pid: int | None
    port: int
    healthy: bool

    def describe(self, host: str) -> str:
        """``running pid=... address=host:port`` (``(not answering)`` if not healthy)."""
        if self.pid is None:
            return "stopped"
        return f"running pid={self.pid} address={host}:{self.port}" + (
            "" if self.healthy else " (not answering)"
        )


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
        nodes = self._kafka_nodes(state)
        bootstrap_servers = ",".join(f"{host}:{node.port}" for node in nodes)
        influx_url = f"http://{host}:{state.influx_port}"
        self._start_kafka(kafka_dist, nodes)
        if self._settings.redis_enabled:
            self._start_redis(state)
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
        kafka_server.wait_healthy(
            bootstrap_servers,
            run_dir=self._run_dir,
            timeout_s=timeout_s,
            names=[node.name for node in nodes],
        )
        bootstrap.create_millstream_topics_on_start(
            bootstrap_servers,
            prefix=self._settings.topic_prefix,
            stream_partitions=self._settings.stream_partitions,
            replication=self._replication(),
            what="the local servers",
        )
        return self._connection(state)

    def _replication(self) -> Replication:
        return Replication.for_brokers(self._settings.kafka_brokers)

    def _kafka_nodes(self, state: _State) -> list[kafka_server.KafkaNode]:
        names = kafka_server.node_names(self._settings.kafka_brokers)
        if len(names) == 1:
            return [kafka_server.KafkaNode(names[0], 1, state.kafka_port, state.controller_port)]
        return [
            kafka_server.KafkaNode(name, i + 1, port, controller_port)
            for i, (name, (port, controller_port)) in enumerate(
                zip(names, state.cluster_ports, strict=True)
            )
        ]

    def _start_kafka(self, dist: KafkaDist, nodes: list[kafka_server.KafkaNode]) -> None:
        """Start the nodes not running; refuse to mix a single broker and a cluster."""
        other = kafka_server.node_names(1 if len(nodes) > 1 else 3)
        running_other = [n for n in other if processes.read_pid(self._run_dir, n) is not None]
        if running_other:
            raise InfraError(
                f"{', '.join(running_other)} already running under {self._run_dir} with another "
                "MILLSTREAM_KAFKA_BROKERS: run 'python -m infra down' first"
            )
        heap_mb = (
            self._settings.kafka_heap_mb if len(nodes) == 1 else (self._settings.kafka_node_heap_mb)
        )
        kafka_server.start_stopped(
            dist,
            nodes,
            run_dir=self._run_dir,
            host=self._settings.host,
            replication=self._replication(),
            heap_mb=heap_mb,
            children=self._children,
            say=self._console.print,
        )

    def _start_redis(self, state: _State) -> None:
        host = self._settings.host
        if processes.read_pid(self._run_dir, redis_server.NAME) is None:
            binary = redis_server.redis_binary(self._settings.redis_server)
            self._console.print(f"Starting Redis on {host}:{state.redis_port}")
            self._children[redis_server.NAME] = redis_server.start_redis(
                binary,
                run_dir=self._run_dir,
                host=host,
                port=state.redis_port,
                maxmemory_mb=self._settings.redis_maxmemory_mb,
            )
        redis_server.wait_healthy(
            host, state.redis_port, run_dir=self._run_dir, timeout_s=self._settings.start_timeout_s
        )

    def down(self, *, purge: bool = False) -> list[str]:
        """Stop both servers; with ``purge`` also delete their data. Returns what was stopped."""
        stopped = processes.stop_all(self._run_dir, self._all_names(), timeout_s=30)
        for child in self._children.values():
            child.wait(timeout=10)
        self._children.clear()
        if purge:
            import shutil

            for sub in (*self._all_names(), "state.json"):
                path = self._run_dir / sub
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        return stopped

    def _all_names(self) -> list[str]:
        """Every server this class may run, the ones configured first."""
        names = [influxdb_server.NAME, redis_server.NAME]
        for brokers in (self._settings.kafka_brokers, 1, 3):
            names += [n for n in kafka_server.node_names(brokers) if n not in names]
        return names

    def processes(self) -> list[ProcessStatus]:
        """Each configured server: name, pid (None when stopped), port, and whether it
        accepts connections on that port."""
        state = self._load()
        host = self._settings.host
        ports_by_name: dict[str, int] = {}
        if state is not None:
            ports_by_name = {node.name: node.port for node in self._kafka_nodes_or_none(state)}
            ports_by_name[influxdb_server.NAME] = state.influx_port
            if self._settings.redis_enabled:
                ports_by_name[redis_server.NAME] = state.redis_port
        else:
            ports_by_name = dict.fromkeys(kafka_server.node_names(self._settings.kafka_brokers), 0)
            ports_by_name[influxdb_server.NAME] = 0
            if self._settings.redis_enabled:
                ports_by_name[redis_server.NAME] = 0
        result = []
        for name, port in ports_by_name.items():
            pid = processes.read_pid(self._run_dir, name)
            healthy = pid is not None and port != 0 and ports.is_listening(host, port)
            result.append(ProcessStatus(name=name, pid=pid, port=port, healthy=healthy))
        return result

    def _kafka_nodes_or_none(self, state: _State) -> list[kafka_server.KafkaNode]:
        try:
            return self._kafka_nodes(state)
        except ValueError:  # state.json written for another broker count
            names = kafka_server.node_names(self._settings.kafka_brokers)
            return [kafka_server.KafkaNode(n, i + 1, 0, 0) for i, n in enumerate(names)]

    def status(self) -> dict[str, str]:
        """One line of text per server (``python -m infra status``)."""
        return {p.name: p.describe(self._settings.host) for p in self.processes()}

    def connection(self) -> Connection:
        state = self._load()
        if state is None or not state.influx_token:
            raise InfraError(
                f"no local stack under {self._run_dir}: run 'python -m infra up' first"
            )
        return self._connection(state)

    def _connection(self, state: _State) -> Connection:
        host = self._settings.host
        nodes = self._kafka_nodes(state)
        return Connection(
            kafka_bootstrap=",".join(f"{host}:{node.port}" for node in nodes),
            influx_url=f"http://{host}:{state.influx_port}",
            influx_token=state.influx_token,
            influx_org=self._settings.influx_org,
            influx_bucket=self._settings.influx_bucket,
            influx_aggregates_bucket=self._settings.influx_aggregates_bucket,
            influx_alarms_bucket=self._settings.influx_alarms_bucket,
            influx_audit_bucket=self._settings.influx_audit_bucket,
            topic_prefix=self._settings.topic_prefix,
            rate_limit_storage_uri=(
                redis_server.storage_uri(host, state.redis_port)
                if self._settings.redis_enabled
                else ""
            ),
            replication_factor=self._replication().factor,
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

        cluster_ports: list[list[int]] = []
        if s.kafka_brokers > 1:
            previous = state.cluster_ports if state else []
            for i, name in enumerate(kafka_server.node_names(s.kafka_brokers)):
                running = processes.read_pid(self._run_dir, name) is not None
                old = previous[i] if i < len(previous) else [0, 0]
                cluster_ports.append(
                    [pick(0, old[0] or None, running), pick(0, old[1] or None, running)]
                )
        redis_running = processes.read_pid(self._run_dir, redis_server.NAME) is not None
        new = _State(
            kafka_port=pick(s.kafka_port, state.kafka_port if state else None, kafka_running),
            controller_port=pick(0, state.controller_port if state else None, kafka_running),
            cluster_ports=cluster_ports or (state.cluster_ports if state else []),
            redis_port=pick(s.redis_port, state.redis_port if state else None, redis_running),
            influx_port=pick(s.influx_port, state.influx_port if state else None, influx_running),
            influx_token=state.influx_token if state else "",
            influx_password=state.influx_password if state else "",
        )
        self._save(new)
        return new
