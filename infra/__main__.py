"""``python -m infra up | down | status | env | provision | run``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict

from rich.console import Console

from contracts.errors import MillstreamError
from infra.influx_cli_dist import influx_cli_path
from infra.servers import Connection, LocalServers
from infra.settings import InfraSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra",
        description="Run Millstream's local Kafka and InfluxDB (and Redis, when configured).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("provision", help="build or fetch both servers into the cache, then exit")
    sub.add_parser("up", help="start Kafka and InfluxDB, bootstrap them, print settings")
    down = sub.add_parser(
        "down", help="stop the servers (and what a killed run-cluster left: edges, services)"
    )
    down.add_argument("--purge", action="store_true", help="also delete their data")
    status = sub.add_parser("status", help="say what is running: name, pid, port, health")
    status.add_argument(
        "--json", action="store_true", help="a JSON list of {name, pid, port, healthy}"
    )
    sub.add_parser(
        "bootstrap",
        help="create topics and buckets on the servers named by MILLSTREAM_* (e.g. in compose)",
    )
    sub.add_parser(
        "env", help="print connection settings as KEY=value lines (also INFLUX_* for influx)"
    )
    run = sub.add_parser("run", help="the whole demo: servers, simulator, connector, worker, API")
    run.add_argument("--api-port", type=int, default=None, help="API port (default 8080)")
    run.add_argument(
        "--overheat-every-s", type=float, default=120.0, help="how often machine 42 overheats"
    )
    cluster = sub.add_parser(
        "run-cluster",
        help="the multi-plant topology: 3 plant edges with MirrorMaker 2, 3 central brokers, "
        "Redis, 2 workers, 2 API replicas",
    )
    cluster.add_argument(
        "--api-ports",
        default=os.environ.get("MILLSTREAM_CLUSTER_API_PORTS", "8080,8081"),
        help="the API replicas' ports, comma-separated (default 8080,8081)",
    )
    cluster.add_argument("--plants", type=int, default=3, help="plant edges (default 3)")
    cluster.add_argument("--machines", type=int, default=5, help="machines per plant (default 5)")
    cluster.add_argument(
        "--overheat-every-s", type=float, default=120.0, help="how often machine 42 overheats"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    console = Console(stderr=True, soft_wrap=True)
    settings = InfraSettings()
    servers = LocalServers(settings, console=console)
    try:
        if args.command == "provision":
            servers.provision()
            console.print(f"Servers cached under {settings.cache_dir}")
        elif args.command == "up":
            conn = servers.up()
            console.print(f"Kafka and InfluxDB are up (run directory {servers.run_dir})")
            _print_env(conn, settings, console)
        elif args.command == "down":
            from infra.cluster_demo import stop_plants_and_services

            stopped = stop_plants_and_services(settings) + servers.down(purge=args.purge)
            console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        elif args.command == "status":
            _print_status(settings, as_json=args.json)
        elif args.command == "bootstrap":
            _bootstrap_external(settings, console)
        elif args.command == "env":
            _print_env(servers.connection(), settings, console)
        elif args.command == "run":
            from infra.demo import run_demo

            return run_demo(
                servers,
                console=console,
                api_port=args.api_port,
                overheat_every_s=args.overheat_every_s,
            )
        elif args.command == "run-cluster":
            from infra.cluster_demo import cluster_settings, run_cluster

            return run_cluster(
                cluster_settings(settings, plants=args.plants),
                console=console,
                api_ports=[int(p) for p in args.api_ports.split(",")],
                machines=args.machines,
                overheat_every_s=args.overheat_every_s,
            )
    except MillstreamError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _print_status(settings: InfraSettings, *, as_json: bool) -> None:
    """Every process (the servers, and a running ``run-cluster``'s edges and services): one
    line each, or a JSON list of ``{name, pid, port, healthy}``."""
    from infra.cluster_demo import every_process, with_recorded_layout

    rows = every_process(with_recorded_layout(settings))
    if as_json:
        print(json.dumps([asdict(p) for p in rows]))
        return
    for p in rows:
        print(f"{p.name}: {p.describe(settings.host)}")


def _print_env(conn: Connection, settings: InfraSettings, console: Console) -> None:
    """``KEY=value`` lines: the services' settings, then what the ``influx`` CLI reads."""
    for key, value in {**conn.env(), **conn.influx_cli_env()}.items():
        print(f"{key}={value}")
    cli = influx_cli_path(settings.cache_dir)
    if cli.exists():
        console.print(f"the influx CLI: {cli} (reads the INFLUX_* lines)", style="dim")


def _bootstrap_external(settings: InfraSettings, console: Console) -> None:
    from infra import bootstrap
    from kafka_edge.connection import KafkaConnection

    created = bootstrap.create_millstream_topics(
        KafkaConnection.from_settings(settings),
        prefix=settings.topic_prefix,
        stream_partitions=settings.stream_partitions,
    )
    servers = settings.influx_servers().servers  # the default, then each plant's
    for server in servers:
        bootstrap.ensure_buckets(
            server.url,
            server.token,
            org=server.org,
            retention_days=settings.bucket_retention_days(),
        )
    console.print(
        f"topics created: {len(created)}; buckets ready on {len(servers)} InfluxDB server(s)"
    )


if __name__ == "__main__":
    sys.exit(main())
