"""``make run-cluster``: the multi-plant topology on loopback, in one command.

Three plant edges (a single-broker Kafka, a MirrorMaker 2, simulated machines and a connector
each), the 3-broker central cluster, Redis, InfluxDB, two pipeline workers in one group and
two API replicas. Every part is its own process, started as in production; this module
starts them in order, shows progress, prints every address, and stops everything on Ctrl-C.
The layout is written to ``cluster.json`` in the run directory, so ``python -m infra status``
lists every process without being told.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console

from connectors.simulator.factory import PLANTS
from infra import ports, processes, services
from infra.demo import admin_key, api_ready, service_env
from infra.edges import Edge, PlantEdges
from infra.errors import InfraError
from infra.servers import LocalServers, ProcessStatus
from infra.settings import InfraSettings

LAYOUT = "cluster.json"
_LAYOUT_FIELDS = ("kafka_brokers", "redis", "plants")


def cluster_settings(settings: InfraSettings, *, plants: int) -> InfraSettings:
    """The settings of the topology: 3 central brokers, Redis, ``plants`` edges."""
    return settings.model_copy(update={"kafka_brokers": 3, "redis": True, "plants": plants})


def with_recorded_layout(settings: InfraSettings) -> InfraSettings:
    """``settings`` as the running topology was started, if ``run-cluster`` started one."""
    try:
        layout = json.loads((settings.run_dir / LAYOUT).read_text())
    except FileNotFoundError:
        return settings
    return settings.model_copy(update={k: layout[k] for k in _LAYOUT_FIELDS if k in layout})


def every_process(settings: InfraSettings) -> list[ProcessStatus]:
    """The servers, the plant edges and the services: what ``infra status`` lists."""
    result = LocalServers(settings).processes()
    if settings.plants:
        result += PlantEdges(settings, list(PLANTS[: settings.plants])).processes()
    return result + services.statuses(settings.run_dir.resolve(), settings.host)


def stop_plants_and_services(settings: InfraSettings) -> list[str]:
    """Stop the services and plant edges a ``run-cluster`` started (after it was killed
    rather than stopped, they outlive it); what was running."""
    settings = with_recorded_layout(settings)
    run_dir = settings.run_dir.resolve()
    stopped = services.stop(run_dir, {})
    if settings.plants:
        stopped += PlantEdges(settings, list(PLANTS[: settings.plants])).down()
    (run_dir / LAYOUT).unlink(missing_ok=True)
    return stopped


def run_cluster(
    settings: InfraSettings,
    *,
    console: Console,
    api_ports: list[int],
    machines: int,
    overheat_every_s: float,
) -> int:
    """Run the topology until interrupted; return the exit code."""
    host = settings.host
    busy = [p for p in api_ports if not ports.is_free(host, p)]
    if busy:
        raise InfraError(
            f"port {busy[0]} is in use: stop what holds it, or choose other ports with "
            "MILLSTREAM_CLUSTER_API_PORTS=8180,8181 make run-cluster"
        )
    servers = LocalServers(settings, console=console)
    edges = PlantEdges(settings, list(PLANTS[: settings.plants]), console=console)
    run_dir = servers.run_dir
    children: dict[str, subprocess.Popen[bytes]] = {}

    processes.interrupt_on_signals()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / LAYOUT).write_text(json.dumps({k: getattr(settings, k) for k in _LAYOUT_FIELDS}))
        services.stop(run_dir, children)  # leftovers of an earlier run that was killed
        console.print("[bold]1/4[/bold] the central cluster (3 Kafka brokers), Redis, InfluxDB")
        conn = servers.up()
        console.print(f"[bold]2/4[/bold] {settings.plants} plant edges and their MirrorMaker 2")
        plant_edges = edges.up(conn)
        key = admin_key(run_dir)
        env = service_env(conn, key=key, host=host)
        console.print("[bold]3/4[/bold] simulated machines and a connector at each plant")
        devices = services.plant_devices(
            run_dir, [e.plant for e in plant_edges], machines=machines, host=host
        )
        todo = [
            s
            for i, e in enumerate(plant_edges)
            for s in services.plant_services(
                e,
                devices[e.slug],
                run_dir=run_dir,
                host=host,
                overheat_every_s=overheat_every_s if i == 0 else 0.0,
            )
        ]
        children.update(services.start(todo, run_dir=run_dir, env=env))
        console.print("[bold]4/4[/bold] 2 pipeline workers (one group) and 2 API replicas")
        central = services.central_services(
            run_dir=run_dir, host=host, workers=2, api_ports=api_ports
        )
        children.update(services.start(central, run_dir=run_dir, env=env))
        _wait_ready(run_dir, api_ports, host=host, names=list(children))
        console.print("Waiting for every plant's machines to reach both replicas ...")
        plants = {e.plant for e in plant_edges}
        _wait_listed(run_dir, api_ports, host=host, names=list(children), key=key, plants=plants)
        _print_banner(settings, plant_edges, api_ports=api_ports, key=key, run_dir=run_dir)
        return _watch(run_dir, list(children), console)
    except KeyboardInterrupt:
        return 0
    finally:
        console.print("Stopping the cluster ...")
        services.stop(run_dir, children)
        edges.down()
        servers.down()
        (run_dir / LAYOUT).unlink(missing_ok=True)
        console.print("Stopped.")


def _wait_ready(run_dir: Path, api_ports: list[int], *, host: str, names: list[str]) -> None:
    urls = [f"http://{host}:{port}/ready" for port in api_ports]
    processes.wait_until_healthy(
        lambda: all(api_ready(url) for url in urls),
        run_dir=run_dir,
        names=names,
        what=f"the API replicas were not ready at {', '.join(urls)}",
        timeout_s=180,
        interval_s=0.5,
    )


def _wait_listed(
    run_dir: Path, api_ports: list[int], *, host: str, names: list[str], key: str, plants: set[str]
) -> None:
    """Until ``GET /api/machines`` on every replica lists machines of every plant: a plant's
    machine records reach the centre through its mirror, which may start after the replicas."""
    processes.wait_until_healthy(
        lambda: all(plants <= _plants_listed(f"http://{host}:{p}", key) for p in api_ports),
        run_dir=run_dir,
        names=names,
        what=f"the API replicas did not list the machines of {', '.join(sorted(plants))}",
        timeout_s=180,
        interval_s=1.0,
    )


def _plants_listed(base_url: str, key: str) -> set[str]:
    """The plants of the machines ``GET /api/machines`` lists (none if it does not answer)."""
    url = f"{base_url}/api/machines"
    request = urllib.request.Request(url, headers={"X-API-Key": key})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback URL
            return {str(machine["plant"]) for machine in json.loads(resp.read())}
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
        return set()


def _watch(run_dir: Path, names: list[str], console: Console) -> int:
    name = processes.wait_until_one_exits(run_dir, names)
    log = processes.log_file(run_dir, name)
    console.print(f"[red]{name} stopped[/red]; last lines of {log}:")
    console.print(processes.tail(log), markup=False)
    return 1


def _print_banner(
    settings: InfraSettings, edges: list[Edge], *, api_ports: list[int], key: str, run_dir: Path
) -> None:
    host = settings.host
    rows = {p.name: p for p in every_process(settings)}
    lines = ["", "Millstream's multi-plant cluster is running."]
    for i, port in enumerate(api_ports, start=1):
        base = f"http://{host}:{port}"
        lines.append(f"  API replica {i}:  {base}/api   dashboard {base}/#api_key={key}")
    lines.append(f"  Admin key:      {key}")
    central = [p for name, p in rows.items() if "central" in name]
    lines.append("  Central Kafka:  " + ",".join(f"{host}:{p.port}" for p in central))
    for edge in edges:
        lines.append(
            f"  {edge.plant} edge:   Kafka {edge.bootstrap}, MirrorMaker 2 "
            f"{edge.mirror}, machines from {host}:{rows[f'simulator-{edge.slug}'].port}"
        )
    for name in ("influxdb", "redis"):
        lines.append(f"  {name + ':':15} {host}:{rows[name].port}")
    lines += [
        f"  Logs:           {run_dir / 'logs'}",
        "  Every process:  python -m infra status",
        "",
        f'Try: curl -H "X-API-Key: {key}" http://{host}:{api_ports[1]}/api/machines',
        "",
        "Press Ctrl-C to stop everything.",
    ]
    print("\n".join(lines), flush=True)
