"""Register decoding: raw 16-bit registers <-> engineering values.

``value = raw * scale + offset``, where ``raw`` is the register content read as
``data_type`` with the given word order (pymodbus' ``convert_from_registers`` /
``convert_to_registers`` do the bit-level work). ``encode`` is the inverse and is what
the simulator uses to fill its registers: ``encode(decode(regs))`` gives back ``regs``.

A float32 is decoded to the shortest decimal that is the same float32 (``67.119026``
rather than ``67.11902618408203``), and a scaled value is rounded to 15 significant
digits (``0.3`` rather than ``0.30000000000000004``): the digits beyond carry no
information, and readings stay short on the wire and in InfluxDB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

from pymodbus.client import ModbusTcpClient

DataType = Literal["int16", "uint16", "int32", "uint32", "float32"]
WordOrder = Literal["big", "little"]
Table = Literal["holding", "input"]

DATA_TYPES: tuple[str, ...] = get_args(DataType)
WORD_ORDERS: tuple[str, ...] = get_args(WordOrder)
TABLES: tuple[str, ...] = get_args(Table)

_PYMODBUS_TYPE = {
    "int16": ModbusTcpClient.DATATYPE.INT16,
    "uint16": ModbusTcpClient.DATATYPE.UINT16,
    "int32": ModbusTcpClient.DATATYPE.INT32,
    "uint32": ModbusTcpClient.DATATYPE.UINT32,
    "float32": ModbusTcpClient.DATATYPE.FLOAT32,
}

_INT_RANGE: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38


def register_count(data_type: DataType) -> int:
    """How many 16-bit registers one value of ``data_type`` occupies."""
    count: int = _PYMODBUS_TYPE[data_type].value[1]
    return count


def raw_range(data_type: DataType) -> tuple[float, float]:
    """The smallest and largest raw value ``data_type`` can hold."""
    if data_type == "float32":
        return (-_FLOAT32_MAX, _FLOAT32_MAX)
    low, high = _INT_RANGE[data_type]
    return (float(low), float(high))


def decode(
    registers: Sequence[int],
    *,
    data_type: DataType,
    word_order: WordOrder = "big",
    scale: float = 1.0,
    offset: float = 0.0,
) -> float:
    """Decode one value from exactly ``register_count(data_type)`` registers.

    Raises ``ValueError`` if the register count is wrong. A float32 register pair
    holding NaN or infinity decodes to that non-finite float; callers decide its quality.
    """
    expected = register_count(data_type)
    if len(registers) != expected:
        raise ValueError(f"{data_type} needs {expected} registers, got {len(registers)}")
    regs = list(registers)
    raw = ModbusTcpClient.convert_from_registers(
        regs, _PYMODBUS_TYPE[data_type], word_order=word_order
    )
    assert isinstance(raw, (int, float))
    if data_type == "float32":
        raw = _shortest_float32(float(raw), regs, word_order=word_order)
    if scale == 1.0 and offset == 0.0:
        return float(raw)
    return float(f"{raw * scale + offset:.15g}")


def _shortest_float32(raw: float, registers: list[int], *, word_order: WordOrder) -> float:
    if not math.isfinite(raw):
        return raw
    for digits in range(6, 9):
        candidate = float(f"{raw:.{digits}g}")
        try:
            encoded = ModbusTcpClient.convert_to_registers(
                candidate, ModbusTcpClient.DATATYPE.FLOAT32, word_order=word_order
            )
        except OverflowError:
            continue
        if encoded == registers:
            return candidate
    return raw


def encode(
    value: float,
    *,
    data_type: DataType,
    word_order: WordOrder = "big",
    scale: float = 1.0,
    offset: float = 0.0,
    clamp: bool = False,
) -> list[int]:
    """Encode an engineering value into registers; the inverse of :func:`decode`.

    Integer types round to the nearest raw value. A raw value outside the type's range
    raises ``ValueError``, or is clamped to the range when ``clamp`` is true.
    """
    if not math.isfinite(value):
        raise ValueError(f"cannot encode non-finite value {value!r}")
    raw: float = (value - offset) / scale
    if data_type != "float32":
        raw = round(raw)
    low, high = raw_range(data_type)
    if not low <= raw <= high:
        if not clamp:
            raise ValueError(f"raw value {raw!r} is outside the {data_type} range")
        raw = min(max(raw, low), high)
    pm_type = _PYMODBUS_TYPE[data_type]
    if data_type == "float32":
        return ModbusTcpClient.convert_to_registers(raw, pm_type, word_order=word_order)
    return ModbusTcpClient.convert_to_registers(int(raw), pm_type, word_order=word_order)
