"""``python -m connectors``: poll the devices of the devices file into Kafka.

Configuration comes from ``MILLSTREAM_*`` environment variables (see
:mod:`connectors.config.settings`); ``--config FILE`` names the devices file instead of
``MILLSTREAM_CONNECTOR_DEVICES_FILE``. ``--check`` only validates the devices file and
prints what would be polled. ``--shard i/n`` (or ``MILLSTREAM_CONNECTOR_SHARD``) polls
only shard ``i`` of ``n`` of the file's devices (:mod:`connectors.config.sharding`); with
``--check`` it prints that shard's devices and how many each shard gets. Exit codes: 0
after SIGINT/SIGTERM (or a valid file with ``--check``), 2 for bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from connectors.app import run_connector
from connectors.config.devices import Device, load_devices
from connectors.config.settings import ConnectorSettings
from connectors.config.sharding import Shard, parse_shard, shard_devices, shard_of
from connectors.lifecycle import stop_on_signals
from connectors.logs import configure_logging
from connectors.modbus.scan import plan_device
from connectors.modbus.serial_ports import check_serial_ports
from contracts.errors import ConfigError
from contracts.settings import load_settings


async def _run(settings: ConnectorSettings, devices: tuple[Device, ...]) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    await run_connector(settings, devices, stop=stop)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connectors", description="Poll Modbus devices into Kafka."
    )
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE", help="devices YAML file"
    )
    parser.add_argument("--check", action="store_true", help="validate the devices file and exit")
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="poll only shard I of N of the devices (0 <= I < N), one process per shard",
    )
    return parser


def _check(path: Path, shard: Shard | None) -> int:
    try:
        devices = _devices_of(path, shard)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for device in devices:
        requests = plan_device(device)
        print(
            f"device {device.machine_id}: {device.source}, {len(device.registers)} tags, "
            f"{len(requests)} requests per cycle"
        )
    if shard is None:
        print(f"{path}: ok, {len(devices)} devices")
    else:
        every = load_devices(path)
        per_shard = [0] * shard.count
        for device in every:
            per_shard[shard_of(device.machine_id, shard.count)] += 1
        print(
            f"{path}: ok, shard {shard}: {len(devices)} of {len(every)} devices "
            f"(devices per shard: {' '.join(str(n) for n in per_shard)})"
        )
    return 0


def _devices_of(path: Path, shard: Shard | None) -> tuple[Device, ...]:
    """The devices of ``path`` (those of ``shard``); :class:`ConfigError` if none."""
    devices = load_devices(path)
    if shard is None:
        return devices
    mine = shard_devices(devices, shard)
    if not mine:
        raise ConfigError(
            f"{path}: shard {shard} has none of the file's {len(devices)} devices; use fewer shards"
        )
    return mine


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args([] if argv is None else argv)
    try:
        shard = parse_shard(args.shard) if args.shard is not None else None
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check and args.config is not None:
        return _check(args.config, shard)
    try:
        settings = load_settings(ConnectorSettings)
        if shard is None and settings.connector_shard:
            shard = parse_shard(settings.connector_shard, field="MILLSTREAM_CONNECTOR_SHARD")
        if args.config is not None:
            settings = settings.model_copy(update={"connector_devices_file": args.config})
        if args.check:
            return _check(settings.connector_devices_file, shard)
        devices = _devices_of(settings.connector_devices_file, shard)
        check_serial_ports(devices)
        if shard is not None:
            settings = settings.model_copy(
                update={
                    "connector_id": settings.connector_id + shard.suffix,
                    "connector_shard": str(shard),
                }
            )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.connector_log_level)
    asyncio.run(_run(settings, devices))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
