"""Running a single-node Kafka broker in KRaft mode (broker and controller in one process)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

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


def server_properties(*, host: str, port: int, controller_port: int, log_dir: Path) -> str:
    """The broker configuration: one node, static quorum, loopback listeners."""
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir.resolve()),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "log.retention.hours": "168",
        "log.segment.bytes": str(256 * 1024 * 1024),
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def start_kafka(
    dist: KafkaDist,
    *,
    run_dir: Path,
    host: str,
    port: int,
    controller_port: int,
    heap_mb: int,
) -> subprocess.Popen[bytes]:
    """Write the config, format storage once, and start the broker in the background."""
    home = run_dir / "kafka"
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    props.write_text(
        server_properties(host=host, port=port, controller_port=controller_port, log_dir=data)
    )
    log4j = home / "log4j.properties"
    log4j.write_text(_LOG4J)
    if not (data / "meta.properties").exists():
        cluster_id = subprocess.run(
            [dist.java, "-cp", dist.classpath, "kafka.tools.StorageTool", "random-uuid"],
            check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
        subprocess.run(
            [
                dist.java, "-cp", dist.classpath, "kafka.tools.StorageTool", "format",
                "-t", cluster_id, "-c", str(props), "--ignore-formatted",
            ],
            check=True, capture_output=True, text=True,
        )
    return processes.start(
        [
            dist.java, f"-Xmx{heap_mb}m", f"-Xms{min(heap_mb, 256)}m",
            "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{log4j.resolve()}",
            "-cp", dist.classpath, "kafka.Kafka", str(props),
        ],
        name=NAME,
        run_dir=run_dir,
    )


def is_healthy(bootstrap: str) -> bool:
    from kafka.errors import KafkaError

    from kafka_edge.connection import KafkaConnection
    from kafka_edge.sync_clients import kafka_admin

    try:
        admin = kafka_admin(KafkaConnection.plain(bootstrap), request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def wait_healthy(bootstrap: str, *, run_dir: Path, timeout_s: float) -> None:
    host, _, port = bootstrap.rpartition(":")
    processes.wait_until_healthy(
        lambda: ports.is_listening(host, int(port)) and is_healthy(bootstrap),
        run_dir=run_dir,
        names=[NAME],
        what=f"Kafka did not answer on {bootstrap}",
        timeout_s=timeout_s,
        interval_s=0.5,
    )
