"""The connection to one device: a pymodbus client for its protocol, opened when needed.

A failed connect or a broken transport is a :class:`TransportError`; the poller closes
the connection and reconnects after its backoff. The command writer shares the poller's
connection, so writes and reads never interleave on the wire.
"""

from __future__ import annotations

import logging
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from connectors.config.devices import Device
from connectors.modbus.fast_pdu import register_fast_responses
from connectors.modbus.poll_stats import PollStats

logger = logging.getLogger(__name__)

# What pymodbus raises when the transport breaks: refused, reset, timed out.
TRANSPORT_ERRORS = (ModbusException, OSError, TimeoutError)


class TransportError(Exception):
    """The connection to the device failed; the poller reconnects."""


class DeviceConnection:
    """The open client of one device, or none; counts connects in ``stats``."""

    def __init__(self, device: Device, stats: PollStats) -> None:
        self.device = device
        self._stats = stats
        self._client: Any = None

    async def client(self) -> Any:
        """The open client, connected first if needed; :class:`TransportError` if the
        device cannot be reached."""
        if self._client is not None and self._client.connected:
            return self._client
        self.close()
        client = new_client(self.device)
        try:
            connected = await client.connect()
        except TRANSPORT_ERRORS as exc:
            client.close()
            raise TransportError(f"connect failed: {exc}") from exc
        if not connected:
            client.close()
            raise TransportError("connect failed")
        self._client = client
        self._stats.connects += 1
        if self._stats.connects == 1 or not self.device.workarounds.close_after_poll:
            logger.info(
                "modbus connected machine_id=%s source=%s connects=%d",
                self.device.machine_id,
                self.device.source,
                self._stats.connects,
            )
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def new_client(device: Device) -> Any:
    """A pymodbus client for ``device``'s protocol, not yet connected; pymodbus' own
    reconnecting is off (the poller reconnects with its backoff)."""
    common: dict[str, Any] = {
        "name": f"machine-{device.machine_id}",
        "timeout": device.timeout_s,
        "retries": device.retries,
        "reconnect_delay": 0,
    }
    if device.protocol == "rtu":
        serial = AsyncModbusSerialClient(
            device.serial_port, framer=FramerType.RTU, **device.serial_line(), **common
        )
        register_fast_responses(serial)
        return serial
    framer = FramerType.SOCKET if device.protocol == "tcp" else FramerType.RTU
    client = AsyncModbusTcpClient(device.host, port=device.port, framer=framer, **common)
    register_fast_responses(client)
    return client
