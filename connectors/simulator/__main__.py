"""``python -m connectors.simulator``: serve simulated machines over Modbus TCP.

Either the devices of a devices file (``--devices devices.example.yaml``), or a whole
factory (``--plants 3 --machines 10``, machine 42 included; ``--devices-out FILE`` writes
its devices file for the connector).

Runs until SIGINT or SIGTERM. Exit codes: 0 when stopped, 1 when an address cannot be
served, 2 for a bad devices file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import yaml

from connectors.config.devices import Device, load_devices, parse_devices
from connectors.lifecycle import stop_on_signals
from connectors.logs import configure_logging
from connectors.simulator.factory import factory_devices, write_factory_file
from connectors.simulator.faults import EXCEPTION_CODES, parse_episode
from connectors.simulator.server import SimulatorServer
from contracts.errors import ConfigError
from infra.ports import free_ports

logger = logging.getLogger("connectors.simulator")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.simulator",
        description="Serve the devices of a devices file as simulated Modbus TCP machines.",
    )
    parser.add_argument("--devices", type=Path, default=None, help="devices YAML file")
    parser.add_argument("--plants", type=int, default=0, help="simulate a factory of N plants")
    parser.add_argument("--machines", type=int, default=10, help="machines per plant (default 10)")
    parser.add_argument(
        "--devices-out", type=Path, default=None, help="write the factory's devices file here"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address of a factory's devices")
    parser.add_argument(
        "--base-port",
        type=int,
        default=0,
        help="first port of a factory's machines (one each; default: free ports)",
    )
    parser.add_argument(
        "--comm-loss-every-s",
        type=float,
        default=0.0,
        help="seconds between one machine going offline for --comm-loss-s (0: never)",
    )
    parser.add_argument("--comm-loss-s", type=float, default=15.0)
    parser.add_argument(
        "--exception",
        action="append",
        default=[],
        metavar="EPISODE",
        help="an exception-response episode, repeatable: "
        "MACHINE:TABLE:ADDRESS[+COUNT]:CODE:START_S:DURATION_S[:EVERY_S], e.g. "
        "42:holding:0+2:slave_device_busy:10:5:60 (codes: " + ", ".join(EXCEPTION_CODES) + ")",
    )
    parser.add_argument(
        "--port-override",
        type=int,
        default=None,
        metavar="N",
        help="serve every device on port N instead of its configured port",
    )
    parser.add_argument(
        "--overheat-every-s",
        type=float,
        default=300.0,
        help="seconds between overheat episodes, 0 for none (default 300)",
    )
    parser.add_argument(
        "--tick-s", type=float, default=0.5, help="seconds between register updates (default 0.5)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return parser


async def _serve(devices: tuple[Device, ...], args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    server = SimulatorServer(
        devices,
        tick_s=args.tick_s,
        overheat_every_s=args.overheat_every_s,
        seed=args.seed,
        port_override=args.port_override,
        comm_loss_every_s=args.comm_loss_every_s,
        comm_loss_s=args.comm_loss_s,
        exception_episodes=args.episodes,
    )
    await server.run(stop)
    logger.info("simulator stopped")


def _devices(args: argparse.Namespace) -> tuple[Device, ...]:
    if args.plants:
        count = args.plants * args.machines
        ports = (
            [args.base_port + i for i in range(count)]
            if args.base_port
            else free_ports(args.host, count)
        )
        entries = factory_devices(
            plants=args.plants, machines=args.machines, host=args.host, ports=ports
        )
        text = yaml.safe_dump({"devices": entries}, sort_keys=False, allow_unicode=True)
        if args.devices_out is not None:
            write_factory_file(args.devices_out, entries)
        return parse_devices(text, source="factory")
    if args.devices is None:
        raise ValueError("give --devices FILE or --plants N")
    return load_devices(args.devices)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.tick_s <= 0:
        print("error: --tick-s must be greater than 0", file=sys.stderr)
        return 2
    try:
        args.episodes = [parse_episode(text) for text in args.exception]
        devices = _devices(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    try:
        asyncio.run(_serve(devices, args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as exc:
        print(f"error: cannot serve: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
