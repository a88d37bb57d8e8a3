"""``python -m connectors``: poll the devices of the devices file into Kafka.

Configuration comes from ``MILLSTREAM_*`` environment variables (see
:mod:`connectors.settings`); ``--config FILE`` names the devices file instead of
``MILLSTREAM_CONNECTOR_DEVICES_FILE``. ``--check`` only validates the devices file and
prints what would be polled. Exit codes: 0 after SIGINT/SIGTERM (or a valid file with
``--check``), 2 for bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from connectors.app import run_connector
from connectors.devices import Device, check_serial_ports, load_devices
from connectors.lifecycle import stop_on_signals
from connectors.logs import configure_logging
from connectors.scan import plan_device
from connectors.settings import ConnectorSettings
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
    return parser


def _check(path: Path) -> int:
    try:
        devices = load_devices(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for device in devices:
        requests = plan_device(device)
        print(
            f"device {device.machine_id}: {device.source}, {len(device.registers)} tags, "
            f"{len(requests)} requests per cycle"
        )
    print(f"{path}: ok, {len(devices)} devices")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args([] if argv is None else argv)
    if args.check and args.config is not None:
        return _check(args.config)
    try:
        settings = load_settings(ConnectorSettings)
        if args.config is not None:
            settings = settings.model_copy(update={"connector_devices_file": args.config})
        if args.check:
            return _check(settings.connector_devices_file)
        devices = load_devices(settings.connector_devices_file)
        check_serial_ports(devices)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.connector_log_level)
    asyncio.run(_run(settings, devices))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
