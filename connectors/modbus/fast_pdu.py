"""Faster read responses for pymodbus, through its own extension point.

pymodbus 3.16 decodes a read-registers response with one ``struct.unpack`` per register
(125 calls for a full read, about 45 µs, the largest single cost of a poll). These
subclasses decode the whole payload with one call and keep its bytes, which the block
decoder (:class:`connectors.modbus.decoding.BlockDecoder`) then unpacks directly.

pymodbus also formats every decoded response for a debug line (``str(pdu)``, a few µs:
a tenth of a small device's scan) before its logger decides whether debug is on. The
subclasses of all four read responses format themselves in full only when pymodbus'
logger is at ``DEBUG``, so the line is the same when it is written.

They are registered per client with ``client.register(...)`` (pymodbus' documented way
to add response classes), so nothing global is patched; behaviour is otherwise
pymodbus' own.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)

# pymodbus' own logger (``pymodbus.logging.Log``), which writes its debug lines.
_PYMODBUS_LOG = logging.getLogger("pymodbus.logging")


def _decode(pdu: Any, data: bytes) -> None:
    if (data_len := int(data[0])) >= len(data):
        raise ModbusIOException(
            f"byte_count {data_len} > length of packet {len(data)}",
            function_code=pdu.function_code,
        )
    count = data_len // 2
    raw = bytes(data[1 : 1 + 2 * count])
    pdu.raw = raw
    pdu.registers = list(struct.unpack(f">{count}H", raw))


def _text(pdu: Any, full: Any) -> str:
    """pymodbus' text of ``pdu`` when its debug line is written, else the class name."""
    return str(full(pdu)) if _PYMODBUS_LOG.isEnabledFor(logging.DEBUG) else type(pdu).__name__


class FastReadHoldingRegistersResponse(ReadHoldingRegistersResponse):
    """Function code 3, decoded in one call; ``raw`` holds the register bytes."""

    raw: bytes = b""

    def decode(self, data: bytes) -> None:
        _decode(self, data)

    def __str__(self) -> str:
        return _text(self, ReadHoldingRegistersResponse.__str__)


class FastReadInputRegistersResponse(ReadInputRegistersResponse):
    """Function code 4, decoded in one call; ``raw`` holds the register bytes."""

    raw: bytes = b""

    def decode(self, data: bytes) -> None:
        _decode(self, data)

    def __str__(self) -> str:
        return _text(self, ReadInputRegistersResponse.__str__)


class QuietReadCoilsResponse(ReadCoilsResponse):
    """Function code 1, pymodbus' own, formatted only for a debug line."""

    def __str__(self) -> str:
        return _text(self, ReadCoilsResponse.__str__)


class QuietReadDiscreteInputsResponse(ReadDiscreteInputsResponse):
    """Function code 2, pymodbus' own, formatted only for a debug line."""

    def __str__(self) -> str:
        return _text(self, ReadDiscreteInputsResponse.__str__)


def register_fast_responses(client: Any) -> None:
    """Make ``client`` decode read responses with the classes above."""
    client.register(FastReadHoldingRegistersResponse)
    client.register(FastReadInputRegistersResponse)
    client.register(QuietReadCoilsResponse)
    client.register(QuietReadDiscreteInputsResponse)
