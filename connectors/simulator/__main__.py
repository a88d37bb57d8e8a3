"""``python -m connectors.simulator --devices devices.example.yaml``: serve simulated machines.

Runs until SIGINT or SIGTERM. Exit codes: 0 when stopped, 1 when an address cannot be
served, 2 for a bad devices file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from connectors.devices import Device, load_devices
from connectors.lifecycle import stop_on_signals
from connectors.logs import configure_logging
from connectors.simulator.server import SimulatorServer
from contracts.errors import ConfigError

logger = logging.getLogger("connectors.simulator")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.simulator",
        description="Serve the devices of a devices file as simulated Modbus TCP machines.",
    )
    parser.add_argument("--devices", type=Path, required=True, help="devices YAML file")
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
    )
    await server.run(stop)
    logger.info("simulator stopped")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.tick_s <= 0:
        print("error: --tick-s must be greater than 0", file=sys.stderr)
        return 2
    try:
        devices = load_devices(args.devices)
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
