"""The read responses the connector registers with pymodbus: decoded as pymodbus does,
formatted in full only for pymodbus' debug line."""

from __future__ import annotations

import logging

import pytest
from pymodbus.pdu.bit_message import ReadCoilsResponse

from connectors.modbus.fast_pdu import (
    FastReadHoldingRegistersResponse,
    QuietReadCoilsResponse,
    QuietReadDiscreteInputsResponse,
)


def test_registers_decode_in_one_call_and_keep_their_bytes() -> None:
    pdu = FastReadHoldingRegistersResponse()
    pdu.decode(bytes([4, 0x01, 0x02, 0xFF, 0xFE]))
    assert pdu.registers == [0x0102, 0xFFFE]
    assert pdu.raw == b"\x01\x02\xff\xfe"


def test_coils_decode_as_pymodbus_does() -> None:
    ours, theirs = QuietReadCoilsResponse(), ReadCoilsResponse()
    for pdu in (ours, theirs):
        pdu.decode(bytes([1, 0b00000101]))
    assert ours.bits == theirs.bits


@pytest.mark.parametrize(
    "cls",
    [FastReadHoldingRegistersResponse, QuietReadCoilsResponse, QuietReadDiscreteInputsResponse],
)
def test_text_is_formatted_only_when_pymodbus_writes_debug_lines(cls: type) -> None:
    pdu = cls()
    log = logging.getLogger("pymodbus.logging")
    level = log.level
    try:
        log.setLevel(logging.WARNING)
        assert str(pdu) == cls.__name__
        log.setLevel(logging.DEBUG)
        assert str(pdu).startswith(f"{cls.__name__}(dev_id=")
    finally:
        log.setLevel(level)
