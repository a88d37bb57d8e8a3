"""Running Kafka in KRaft mode: one node, or a cluster of combined broker+controller nodes.

Every node is a broker and a controller; a cluster of ``n`` nodes has a static quorum of
``n`` voters, so a 3-node cluster keeps both its metadata quorum and its in-sync replicas
(``min.insync.replicas=2``) with one node down.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts.topics import Replication
from infra import ports, processes
from infra.kafka_dist import KafkaDist

logger = logging.getLogger(__name__)

NAME = "kafka"

_LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=WARN
log4j.logger.org.apache.kafka=WARN
log4j.logger.state.change.logger=WARN
"""


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """One node of the local cluster: its name (pid file, log, directory) and ports."""

    name: str
    node_id: int
    port: int
    controller_port: int


def node_names(brokers: int) -> list[str]:
    """``kafka`` for a single broker (as always); ``kafka-central-<i>`` in a cluster."""
    if brokers == 1:
        return [NAME]
    return [f"{NAME}-central-{i}" for i in range(1, brokers + 1)]


def quorum_voters(host: str, nodes: list[KafkaNode]) -> str:
    return ",".join(f"{n.node_id}@{host}:{n.controller_port}" for n in nodes)


def server_properties(
    *,
    host: str,
    port: int,
    controller_port: int,
    log_dir: Path,
    node_id: int = 1,
    voters: str | None = None,
    replication: Replication | None = None,
) -> str:
    """A node's configuration: static quorum, loopback listeners, the cluster's replication
    for the internal topics (consumer offsets, transaction state) and any topic created
    without its own."""
    rep = replication or Replication.for_brokers(1)
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters or f"{node_id}@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir.resolve()),
        "num.partitions": "1",
        "default.replication.factor": str(rep.factor),
        "min.insync.replicas": str(rep.min_insync),
        "offsets.topic.replication.factor": str(rep.factor),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(rep.factor),
        "transaction.state.log.min.isr": str(rep.min_insync),
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "log.retention.hours": "168",
        "log.segment.bytes": str(256 * 1024 * 1024),
    }
    if rep.factor > 1:
        # A dead node is fenced (its partitions led elsewhere, it leaves the ISR) after
        # missing heartbeats for this long; Kafka's default is 9 s.
        lines["broker.heartbeat.interval.ms"] = "1000"
        lines["broker.session.timeout.ms"] = "4000"
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka's ``Uuid.randomUuid()`` writes it (base64url, 22 chars)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def write_configs(
    *,
    run_dir: Path,
    host: str,
    nodes: list[KafkaNode],
    replication: Replication,
) -> dict[str, Path]:
    """Write each node's ``server.properties`` and ``log4j.properties``; their paths by name."""
    voters = quorum_voters(host, nodes)
    written: dict[str, Path] = {}
    for node in nodes:
        home = run_dir / node.name
        data = home / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = home / "server.properties"
        props.write_text(
            server_properties(
                host=host,
                port=node.port,
                controller_port=node.controller_port,
                log_dir=data,
                node_id=node.node_id,
                voters=voters,
                replication=replication,
            )
        )
        (home / "log4j.properties").write_text(_LOG4J)
        written[node.name] = props
    return written


def format_storage(dist: KafkaDist, configs: dict[str, Path], run_dir: Path) -> None:
    """Format every node not yet formatted with one cluster id (in parallel: a JVM each)."""
    todo = {
        name: props
        for name, props in configs.items()
        if not (run_dir / name / "data" / "meta.properties").exists()
    }
    if not todo:
        return
    cluster_id = new_cluster_id()
    jobs = [
        subprocess.Popen(
            [
                dist.java,
                "-cp",
                dist.classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
                "--ignore-formatted",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for props in todo.values()
    ]
    for name, job in zip(todo, jobs, strict=True):
        out, _ = job.communicate()
        if job.returncode != 0:
            raise subprocess.CalledProcessError(job.returncode, job.args, out)
        logger.info("formatted name=%s cluster_id=%s", name, cluster_id)


def start_node(
    dist: KafkaDist, *, run_dir: Path, name: str, props: Path, heap_mb: int
) -> subprocess.Popen[bytes]:
    """Start one formatted node in the background."""
    log4j = run_dir / name / "log4j.properties"
    return processes.start(
        [
            dist.java,
            f"-Xmx{heap_mb}m",
            f"-Xms{min(heap_mb, 256)}m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{log4j.resolve()}",
            "-cp",
            dist.classpath,
            "kafka.Kafka",
            str(props),
        ],
        name=name,
        run_dir=run_dir,
    )


def start_stopped(
    dist: KafkaDist,
    nodes: list[KafkaNode],
    *,
    run_dir: Path,
    host: str,
    replication: Replication,
    heap_mb: int,
    children: dict[str, subprocess.Popen[bytes]],
    say: Callable[[str], None],
    what: str = "Kafka",
) -> None:
    """Start the nodes of ``nodes`` that are not running: their configs written, storage
    formatted if new, each child kept in ``children`` by name (one of ours that died is
    reaped first); ``say`` announces each as ``Starting <what> <name> on <host>:<port>``."""
    stopped = [n for n in nodes if processes.read_pid(run_dir, n.name) is None]
    if not stopped:
        return
    configs = write_configs(run_dir=run_dir, host=host, nodes=nodes, replication=replication)
    format_storage(dist, {n.name: configs[n.name] for n in stopped}, run_dir)
    for node in stopped:
        died = children.pop(node.name, None)
        if died is not None:
            died.poll()  # reaped: a node of ours that died is being replaced
        say(f"Starting {what} {node.name} on {host}:{node.port}")
        children[node.name] = start_node(
            dist, run_dir=run_dir, name=node.name, props=configs[node.name], heap_mb=heap_mb
        )


def is_healthy(bootstrap: str, *, brokers: int = 1) -> bool:
    """Whether the cluster answers and has registered ``brokers`` brokers."""
    from kafka.errors import KafkaError

    from kafka_edge.connection import KafkaConnection
    from kafka_edge.sync_clients import kafka_admin

    try:
        admin = kafka_admin(KafkaConnection.plain(bootstrap), request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        described = admin.describe_cluster()
        return len(described.get("brokers", ())) >= brokers
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def wait_healthy(
    bootstrap: str,
    *,
    run_dir: Path,
    timeout_s: float,
    names: list[str] | None = None,
) -> None:
    """Wait until every node listens and the cluster lists them all."""
    names = names or [NAME]
    addresses = [a.rpartition(":") for a in bootstrap.split(",")]
    processes.wait_until_healthy(
        lambda: (
            all(ports.is_listening(host, int(port)) for host, _, port in addresses)
            and is_healthy(bootstrap, brokers=len(names))
        ),
        run_dir=run_dir,
        names=names,
        what=f"Kafka did not answer on {bootstrap}",
        timeout_s=timeout_s,
        interval_s=0.5,
    )
