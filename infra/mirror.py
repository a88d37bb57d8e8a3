"""Running MirrorMaker 2 between a plant's edge broker and the central cluster.

One dedicated MirrorMaker 2 process (``org.apache.kafka.connect.mirror.MirrorMaker``) per
plant edge, driving two flows:

- up, plant -> central: the readings, the machine records and the command results;
- down, central -> plant: the commands (the plant's connector executes those for its own
  machines and ignores the rest, as every connector does).

Topic names stay as they are (``IdentityReplicationPolicy``): the pipeline, the API and the
connectors read the same topics whether the records came through an edge or not. The mirror
writes each record to the partition it had at the edge; the edge and the centre have the same
partition counts, so a machine's readings stay in one partition, in order.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contracts.topics import Replication, TopicNames
from infra import processes
from infra.kafka_dist import KafkaDist

CENTRAL = "central"
IDENTITY_POLICY = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
DRIVER = "org.apache.kafka.connect.mirror.MirrorMaker"

_LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka=WARN
log4j.logger.org.apache.kafka.connect.mirror=INFO
log4j.logger.org.reflections=ERROR
log4j.logger.org.eclipse.jetty=WARN
"""


# The Connect worker behind each flow: every plugin on the classpath has its manifest, so no
# slow classpath scan at start; how far it has read is saved every second, so a restarted
# mirror resends little; a restarted mirror takes its tasks back at once (there is one worker
# per flow, nothing to wait for).
_WORKER = {
    "plugin.discovery": "service_load",
    "offset.flush.interval.ms": "1000",
    "session.timeout.ms": "6000",
    "heartbeat.interval.ms": "2000",
    "scheduled.rebalance.max.delay.ms": "0",
}


@dataclass(frozen=True, slots=True)
class MirrorLink:
    """One plant edge's link to the centre: the two clusters and the mirror's REST port."""

    plant: str  # the cluster alias of the edge, e.g. "hall-b"
    edge_bootstrap: str
    central_bootstrap: str
    central_replication: Replication
    rest_port: int

    @property
    def name(self) -> str:
        """The process's name (pid file, log, directory)."""
        return f"mirrormaker-{self.plant}"


def _topics_regex(names: list[str]) -> str:
    return "|".join(re.escape(name) for name in names)


def up_topics(topics: TopicNames) -> list[str]:
    """What an edge sends to the centre."""
    return [topics.readings, topics.machines, topics.command_results]


def down_topics(topics: TopicNames) -> list[str]:
    """What the centre sends to an edge."""
    return [topics.commands]


def mm2_properties(link: MirrorLink, topics: TopicNames, *, host: str) -> str:
    """The ``mm2.properties`` of one plant's mirror."""
    plant, central = link.plant, CENTRAL
    rf_central = str(link.central_replication.factor)
    up, down = f"{plant}->{central}", f"{central}->{plant}"
    lines: dict[str, str] = {
        "clusters": f"{plant}, {central}",
        f"{plant}.bootstrap.servers": link.edge_bootstrap,
        f"{central}.bootstrap.servers": link.central_bootstrap,
        "replication.policy.class": IDENTITY_POLICY,
        f"{up}.enabled": "true",
        f"{up}.topics": _topics_regex(up_topics(topics)),
        f"{down}.enabled": "true",
        f"{down}.topics": _topics_regex(down_topics(topics)),
        # Topics exist at both ends (the bootstrap makes them); should one be missing, the
        # mirror creates it with the target's replication.
        f"{up}.replication.factor": rf_central,
        f"{down}.replication.factor": "1",
        # Each cluster keeps the configuration it was given (no min.insync.replicas of the
        # edge copied onto the centre), and no consumer-group or ACL mirroring.
        "sync.topic.configs.enabled": "false",
        "sync.topic.acls.enabled": "false",
        "sync.group.offsets.enabled": "false",
        # Heartbeats are not needed (nothing reads them); the checkpoint connector refuses
        # to start without offset syncs, so both stay on, in the edge and once a minute.
        "emit.heartbeats.enabled": "false",
        "refresh.topics.interval.seconds": "10",
        "refresh.groups.enabled": "false",
        "tasks.max": "1",
        # The mirror's own bookkeeping (where it has read to) lives in the target cluster of
        # each flow, with that cluster's replication.
        f"{central}.config.storage.replication.factor": rf_central,
        f"{central}.offset.storage.replication.factor": rf_central,
        f"{central}.status.storage.replication.factor": rf_central,
        f"{plant}.config.storage.replication.factor": "1",
        f"{plant}.offset.storage.replication.factor": "1",
        f"{plant}.status.storage.replication.factor": "1",
        f"{up}.offset-syncs.topic.replication.factor": "1",
        f"{down}.offset-syncs.topic.replication.factor": rf_central,
        f"{up}.heartbeats.topic.replication.factor": rf_central,
        f"{down}.heartbeats.topic.replication.factor": "1",
        f"{up}.checkpoints.topic.replication.factor": rf_central,
        f"{down}.checkpoints.topic.replication.factor": "1",
        # Writes to the centre as the connectors' own: every in-sync copy, idempotent.
        f"{central}.producer.acks": "all",
        f"{central}.producer.enable.idempotence": "true",
        f"{central}.producer.linger.ms": "5",
        # A small REST listener per flow: its port is the mirror's health in `infra status`.
        "plugin.discovery": "service_load",  # for the driver itself; _WORKER for each flow
        "dedicated.mode.enable.internal.rest": "true",
        "listeners": f"http://{host}:{link.rest_port}",
    }
    for cluster in (plant, central):
        # Worker settings are given per target cluster (MirrorMaker reads them so).
        lines.update({f"{cluster}.{key}": value for key, value in _WORKER.items()})
    # A .properties file: a backslash (the topic regexes' escapes) is written doubled.
    return "".join(
        f"{key} = {value.replace(chr(92), chr(92) * 2)}\n" for key, value in lines.items()
    )


def start_mirror(
    dist: KafkaDist,
    link: MirrorLink,
    topics: TopicNames,
    *,
    run_dir: Path,
    host: str,
    heap_mb: int,
) -> subprocess.Popen[bytes]:
    """Write the link's ``mm2.properties`` and start its MirrorMaker 2 in the background."""
    home = run_dir / link.name
    home.mkdir(parents=True, exist_ok=True)
    props = home / "mm2.properties"
    props.write_text(mm2_properties(link, topics, host=host))
    log4j = home / "log4j.properties"
    log4j.write_text(_LOG4J)
    return processes.start(
        [
            dist.java,
            f"-Xmx{heap_mb}m",
            f"-Xms{min(heap_mb, 64)}m",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{log4j.resolve()}",
            "-cp",
            dist.classpath,
            DRIVER,
            str(props),
        ],
        name=link.name,
        run_dir=run_dir,
    )
