"""Plant edges: a single-broker Kafka per plant, linked to the central cluster by its own
MirrorMaker 2 (:mod:`infra.mirror`).

A plant's connector writes to its edge broker, which keeps accepting readings while the link
to the centre is down; the mirror carries them up when it is back. Each plant's processes
carry the plant in their names: ``kafka-hall-b``, ``mirrormaker-hall-b``. The ports are kept in
``edges.json`` in the run directory, as ``state.json`` keeps the central servers'.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console

from contracts.topics import Replication, TopicNames
from infra import bootstrap, kafka_server, ports, processes
from infra.kafka_dist import KafkaDist, provision_kafka, provision_mirrormaker
from infra.mirror import MirrorLink, start_mirror
from infra.servers import Connection, LocalServers, ProcessStatus
from infra.settings import InfraSettings

logger = logging.getLogger(__name__)


def plant_slug(plant: str) -> str:
    """A plant's name as it appears in process names and MirrorMaker's cluster alias."""
    slug = re.sub(r"[^a-z0-9]+", "-", plant.lower()).strip("-")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", slug):
        raise ValueError(f"plant name {plant!r} gives no usable alias")
    return slug


@dataclass(slots=True)
class _EdgePorts:
    port: int
    controller_port: int
    mirror_rest_port: int


@dataclass(frozen=True, slots=True)
class Edge:
    """One running plant edge: its plant, its broker's address and its mirror's process."""

    plant: str
    slug: str
    bootstrap: str
    broker: str
    mirror: str


class PlantEdges:
    """The edges of ``plants`` under one run directory, linked to one central cluster."""

    def __init__(
        self, settings: InfraSettings, plants: list[str], *, console: Console | None = None
    ) -> None:
        self._settings = settings
        self._plants = plants
        self._run_dir = settings.run_dir.resolve()
        self._console = console or Console(stderr=True, soft_wrap=True)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._mirror_dist: KafkaDist | None = None

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self._settings.topic_prefix)

    def _state_path(self) -> Path:
        return self._run_dir / "edges.json"

    def _ports(self) -> dict[str, _EdgePorts]:
        """Each plant's ports: those of an earlier run where still usable, else free ones."""
        host = self._settings.host
        try:
            raw = json.loads(self._state_path().read_text())
            saved = {k: _EdgePorts(**v) for k, v in raw.items()}
        except FileNotFoundError:
            saved = {}
        chosen: dict[str, _EdgePorts] = {}
        for plant in self._plants:
            slug = plant_slug(plant)
            old = saved.get(slug)
            running = processes.read_pid(self._run_dir, f"kafka-{slug}") is not None
            if old is not None and (running or ports.is_free(host, old.port)):
                chosen[slug] = old
            else:
                chosen[slug] = _EdgePorts(*ports.free_ports(host, 3))
        self._run_dir.mkdir(parents=True, exist_ok=True)
        self._state_path().write_text(
            json.dumps(
                {
                    **{k: asdict(v) for k, v in saved.items()},
                    **{k: asdict(v) for k, v in chosen.items()},
                },
                indent=2,
            )
        )
        return chosen

    def edges(self) -> list[Edge]:
        host = self._settings.host
        chosen = self._ports()
        return [
            Edge(
                plant=plant,
                slug=slug,
                bootstrap=f"{host}:{chosen[slug].port}",
                broker=f"kafka-{slug}",
                mirror=f"mirrormaker-{slug}",
            )
            for plant in self._plants
            for slug in [plant_slug(plant)]
        ]

    def up(self, central: Connection) -> list[Edge]:
        """Start every edge broker and mirror not running, wait for them, create the topics
        at each edge (one copy each); safe to call twice."""
        cache = self._settings.cache_dir
        kafka = provision_kafka(cache, console=self._console)
        self._mirror_dist = provision_mirrormaker(cache, console=self._console)
        chosen = self._ports()
        edges = self.edges()
        for edge in edges:
            self._start_broker(kafka, edge, chosen[edge.slug])
        for edge in edges:
            kafka_server.wait_healthy(
                edge.bootstrap,
                run_dir=self._run_dir,
                timeout_s=self._settings.start_timeout_s,
                names=[edge.broker],
            )
            bootstrap.create_millstream_topics_on_start(
                edge.bootstrap,
                prefix=self._settings.topic_prefix,
                stream_partitions=self._settings.stream_partitions,
                replication=Replication.for_brokers(1),
                what=f"the {edge.plant} edge",
            )
            self.start_link(edge.slug, central)
        return edges

    def _start_broker(self, dist: KafkaDist, edge: Edge, p: _EdgePorts) -> None:
        kafka_server.start_stopped(
            dist,
            [kafka_server.KafkaNode(edge.broker, 1, p.port, p.controller_port)],
            run_dir=self._run_dir,
            host=self._settings.host,
            replication=Replication.for_brokers(1),
            heap_mb=self._settings.edge_heap_mb,
            children=self._children,
            say=self._console.print,
            what=f"{edge.plant}'s edge Kafka",
        )

    def start_link(self, slug: str, central: Connection) -> None:
        """Start the plant's MirrorMaker 2 if it is not running."""
        name = f"mirrormaker-{slug}"
        if processes.read_pid(self._run_dir, name) is not None:
            return
        if self._mirror_dist is None:
            self._mirror_dist = provision_mirrormaker(
                self._settings.cache_dir, console=self._console
            )
        p = self._ports()[slug]
        host = self._settings.host
        link = MirrorLink(
            plant=slug,
            edge_bootstrap=f"{host}:{p.port}",
            central_bootstrap=central.kafka_bootstrap,
            central_replication=Replication.for_brokers(central.replication_factor),
            rest_port=p.mirror_rest_port,
        )
        self._console.print(f"Starting MirrorMaker 2 {name} ({slug} <-> central)")
        old = self._children.pop(name, None)
        if old is not None:
            old.poll()
        self._children[name] = start_mirror(
            self._mirror_dist,
            link,
            self.topics,
            run_dir=self._run_dir,
            host=host,
            heap_mb=self._settings.mirror_heap_mb,
        )

    def stop_link(self, slug: str) -> bool:
        """Stop the plant's mirror (its link to the centre); whether it was running."""
        name = f"mirrormaker-{slug}"
        stopped = processes.stop(self._run_dir, name, timeout_s=30)
        child = self._children.pop(name, None)
        if child is not None:
            child.wait(timeout=10)
        return stopped

    def names(self) -> list[str]:
        return [n for e in self.edges() for n in (e.mirror, e.broker)]

    def down(self) -> list[str]:
        """Stop every mirror, then every edge broker."""
        edges = self.edges()
        stopped = processes.stop_all(self._run_dir, [e.mirror for e in edges], timeout_s=30)
        stopped += processes.stop_all(self._run_dir, [e.broker for e in edges], timeout_s=30)
        for child in self._children.values():
            child.wait(timeout=10)
        self._children.clear()
        return stopped

    def processes(self) -> list[ProcessStatus]:
        """Each edge's broker and mirror: name, pid, port (the mirror's REST port), health."""
        host = self._settings.host
        result = []
        for slug, p in self._ports().items():
            named = ((f"kafka-{slug}", p.port), (f"mirrormaker-{slug}", p.mirror_rest_port))
            for name, port in named:
                pid = processes.read_pid(self._run_dir, name)
                healthy = pid is not None and ports.is_listening(host, port)
                result.append(ProcessStatus(name=name, pid=pid, port=port, healthy=healthy))
        return result


@contextlib.contextmanager
def linked_plants(
    settings: InfraSettings, plants: list[str], *, console: Console | None = None
) -> Iterator[tuple[Connection, list[Edge]]]:
    """The central servers of ``settings`` and an edge per plant linked to them, up; on the
    way out every mirror and edge broker is stopped, then the central servers (purged)."""
    servers = LocalServers(settings, console=console)
    edges = PlantEdges(settings, plants, console=console)
    try:
        central = servers.up()
        yield central, edges.up(central)
    finally:
        edges.down()
        servers.down(purge=True)
