"""Opening every serial port once at start-up: device I/O, so it lives beside the poller
and not in the devices file's validation."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.config.devices import Device
from contracts.errors import ConfigError


def check_serial_ports(devices: Sequence[Device]) -> None:
    """Open and close the serial port of every ``rtu`` device once, at start-up, so a
    missing or busy port is a clear :class:`ConfigError` naming the device and
    ``serial_port`` rather than an endless reconnect loop."""
    import serial  # type: ignore[import-untyped]  # pyserial ships no type hints

    for device in devices:
        if device.protocol != "rtu":
            continue
        try:
            port = serial.Serial(device.serial_port, timeout=0, **device.serial_line())
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConfigError(
                f"device {device.machine_id}: serial_port: cannot open {device.serial_port}: {exc}"
            ) from exc
        port.close()
