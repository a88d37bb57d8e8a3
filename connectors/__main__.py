"""``python -m connectors``: poll the devices of the devices file into Kafka.

Configuration comes from ``MILLSTREAM_*`` environment variables (see
:mod:`connectors.settings`). Exit codes: 0 after SIGINT/SIGTERM, 2 for bad configuration.
"""

from __future__ import annotations

import asyncio
import sys

from connectors.app import run_connector
from connectors.devices import Device, load_devices
from connectors.lifecycle import stop_on_signals
from connectors.logs import configure_logging
from connectors.settings import ConnectorSettings
from contracts.errors import ConfigError
from contracts.settings import load_settings


async def _run(settings: ConnectorSettings, devices: tuple[Device, ...]) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    await run_connector(settings, devices, stop=stop)


def main() -> int:
    try:
        settings = load_settings(ConnectorSettings)
        devices = load_devices(settings.connector_devices_file)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.connector_log_level)
    asyncio.run(_run(settings, devices))
    return 0


if __name__ == "__main__":
    sys.exit(main())
