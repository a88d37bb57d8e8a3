"""The Python services of the multi-plant topology, as processes with a name and a port.

Per plant: the simulated machines (``simulator-<plant>``) and the connector that polls them
into the plant's edge broker (``connector-<plant>``, its own spool). Central: pipeline
workers in one consumer group (``worker-<i>``) and API replicas (``api-<i>``). Each service
that starts is recorded in ``services.json`` in the run directory with the port that tells
whether it is healthy (Modbus, the health endpoint, Faust's web server, the API), so
``python -m infra status`` lists them beside the servers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connectors.simulator.factory import factory_devices, write_factory_file
from infra import ports, processes
from infra.edges import Edge, plant_slug
from infra.servers import ProcessStatus

_REGISTRY = "services.json"


@dataclass(frozen=True, slots=True)
class Service:
    """A process to start: its name, command line, extra environment and health port."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)


def plant_devices(
    run_dir: Path, plants: list[str], *, machines: int, host: str, poll_interval_s: float = 1.0
) -> dict[str, Path]:
    """The simulated factory split by plant: one devices file per plant, by plant slug."""
    entries = factory_devices(
        plants=len(plants),
        machines=machines,
        host=host,
        ports=ports.free_ports(host, len(plants) * machines),
        poll_interval_s=poll_interval_s,
    )
    files: dict[str, Path] = {}
    for plant in plants:
        slug = plant_slug(plant)
        mine = [d for d in entries if d["plant"] == plant]
        files[slug] = write_factory_file(run_dir / f"devices-{slug}.yaml", mine)
    return files


def first_port(devices: Path) -> int:
    import yaml

    return int(yaml.safe_load(devices.read_text(encoding="utf-8"))["devices"][0]["port"])


def plant_services(
    edge: Edge, devices: Path, *, run_dir: Path, host: str, overheat_every_s: float = 0.0
) -> list[Service]:
    """A plant's simulator and its connector, writing to the plant's edge broker."""
    py = sys.executable
    health_port = ports.free_port(host)
    simulate = [py, "-m", "connectors.simulator", "--devices", str(devices)]
    if overheat_every_s:
        simulate += ["--overheat-every-s", str(overheat_every_s)]
    return [
        Service(f"simulator-{edge.slug}", simulate, first_port(devices)),
        Service(
            f"connector-{edge.slug}",
            [py, "-m", "connectors"],
            health_port,
            {
                "MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS": edge.bootstrap,
                "MILLSTREAM_CONNECTOR_DEVICES_FILE": str(devices),
                "MILLSTREAM_CONNECTOR_ID": f"connector-{edge.slug}",
                "MILLSTREAM_CONNECTOR_SPOOL_DIR": str(run_dir / f"spool-{edge.slug}"),
                "MILLSTREAM_CONNECTOR_HEALTH_PORT": str(health_port),
            },
        ),
    ]


def central_services(
    *, run_dir: Path, host: str, workers: int, api_ports: list[int]
) -> list[Service]:
    """``workers`` pipeline workers (one group) and an API replica on each of ``api_ports``."""
    py = sys.executable
    services = []
    for i in range(1, workers + 1):
        web_port = ports.free_port(host)
        services.append(
            Service(
                f"worker-{i}",
                [py, "-m", "pipeline", "worker"],
                web_port,
                {
                    "MILLSTREAM_PIPELINE_DATA_DIR": str(run_dir / f"pipeline-{i}"),
                    "MILLSTREAM_PIPELINE_WEB_PORT": str(web_port),
                },
            )
        )
    for i, port in enumerate(api_ports, start=1):
        services.append(
            Service(f"api-{i}", [py, "-m", "api"], port, {"MILLSTREAM_API_PORT": str(port)})
        )
    return services


def start(
    services: list[Service], *, run_dir: Path, env: Mapping[str, str]
) -> dict[str, subprocess.Popen[bytes]]:
    """Start each service (dying with this process), and record it for ``infra status``."""
    registry = run_dir / _REGISTRY
    recorded = _recorded(run_dir)
    children = {}
    for service in services:
        children[service.name] = processes.start(
            service.argv,
            name=service.name,
            run_dir=run_dir,
            env={**env, **service.env},
            die_with_parent=True,
        )
        recorded[service.name] = service.port
        registry.write_text(json.dumps(recorded, indent=2))
    return children


def stop(run_dir: Path, children: dict[str, subprocess.Popen[bytes]]) -> list[str]:
    """Stop every recorded service, the simulated machines last (the connectors stop
    polling first)."""
    names = list(_recorded(run_dir))
    machines = [n for n in names if n.startswith("simulator-")]
    stopped = processes.stop_all(run_dir, [n for n in names if n not in machines], timeout_s=20)
    stopped += processes.stop_all(run_dir, machines, timeout_s=20)
    for child in children.values():
        child.wait(timeout=10)
    children.clear()
    (run_dir / _REGISTRY).unlink(missing_ok=True)
    return stopped


def _recorded(run_dir: Path) -> dict[str, int]:
    try:
        return dict(json.loads((run_dir / _REGISTRY).read_text()))
    except FileNotFoundError:
        return {}


def statuses(run_dir: Path, host: str) -> list[ProcessStatus]:
    """Each recorded service: name, pid (None when stopped), port, and whether it answers."""
    result = []
    for name, port in _recorded(run_dir).items():
        pid = processes.read_pid(run_dir, name)
        healthy = pid is not None and ports.is_listening(host, port)
        result.append(ProcessStatus(name=name, pid=pid, port=port, healthy=healthy))
    return result
