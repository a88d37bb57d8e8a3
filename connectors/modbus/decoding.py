"""Register decoding: raw 16-bit registers <-> engineering values.

``value = raw * scale + offset``, where ``raw`` is the register content read as
``data_type`` in the given byte order. Byte orders name the bytes of a 32-bit value as
they arrive on the wire, A the most significant (64-bit values extend the same rule):

- ``ABCD``: big-endian words, high word first (the Modbus default; ``big`` is an alias);
- ``CDAB``: low word first (``little`` is an alias), bytes within a word big-endian;
- ``BADC``: high word first, the two bytes of every register swapped;
- ``DCBA``: low word first and bytes swapped (fully little-endian).

Two implementations, deliberately:

- :func:`decode` / :func:`encode` handle one value through pymodbus' own
  ``convert_from_registers`` / ``convert_to_registers`` (plus a byte swap for ``BADC`` and
  ``DCBA``, which pymodbus does not offer). The simulator, the command writer and the tests
  use them.
- :class:`BlockDecoder` decodes every value of one read request in a single
  ``struct.unpack`` call. This is the poller's hot path: per value it costs well under a
  microsecond where pymodbus' per-value conversion costs about 1.5 µs. The property tests
  check it against pymodbus' encoders for every type and order.

A float32 is published as its exact value (a double holds every float32 exactly), not
rounded to its shortest decimal: finding the shortest decimal took 39% of the connector's
time. A scale given as ``1/n`` (0.1, 0.01, ...) divides by ``n``, so ``3 * 0.1`` reads
``0.3`` and not ``0.30000000000000004``, without formatting numbers.
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pymodbus.client import ModbusTcpClient

from connectors.config.register_types import (
    FLOAT_TYPES,
    ByteOrder,
    DataType,
    register_count,
)

_DT = ModbusTcpClient.DATATYPE
_PYMODBUS_TYPE = {
    "int16": _DT.INT16,
    "uint16": _DT.UINT16,
    "int32": _DT.INT32,
    "uint32": _DT.UINT32,
    "int64": _DT.INT64,
    "uint64": _DT.UINT64,
    "float32": _DT.FLOAT32,
    "float64": _DT.FLOAT64,
}
_STRUCT_CODE = {k: v.value[0] for k, v in _PYMODBUS_TYPE.items()}
INT_RANGES: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
_FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}


def raw_range(data_type: DataType) -> tuple[float, float]:
    """The smallest and largest raw value ``data_type`` can hold."""
    if data_type in _FLOAT_MAX:
        top = _FLOAT_MAX[data_type]
        return (-top, top)
    if data_type == "bit":
        return (0.0, 1.0)
    low, high = INT_RANGES[data_type]
    return (float(low), float(high))


def _swap_bytes(registers: Sequence[int]) -> list[int]:
    return [((r & 0xFF) << 8) | (r >> 8) for r in registers]


def _word_order(order: ByteOrder) -> Literal["big", "little"]:
    return "big" if order in ("ABCD", "BADC") else "little"


def _byte_swapped(order: ByteOrder) -> bool:
    return order in ("BADC", "DCBA")


def scaler(scale: float, offset: float) -> tuple[float, bool]:
    """``(factor, divide)``: apply a scale as ``raw / factor`` when it is ``1/n``."""
    inverse = 1.0 / scale
    if abs(inverse) >= 1.0 and inverse == round(inverse):
        return (float(round(inverse)), True)
    return (scale, False)


def apply_scale(raw: float, scale: float, offset: float) -> float:
    """``raw * scale + offset`` (see the module docstring for ``1/n`` scales)."""
    if scale == 1.0 and offset == 0.0:
        return raw  # an integer stays exact (64-bit values exceed a double's 53 bits)
    factor, divide = scaler(scale, offset)
    return (raw / factor if divide else raw * factor) + offset


def decode(
    registers: Sequence[int],
    *,
    data_type: DataType,
    byte_order: ByteOrder = "ABCD",
    scale: float = 1.0,
    offset: float = 0.0,
    bit: int = 0,
) -> float:
    """Decode one numeric value from exactly ``register_count(data_type)`` registers.

    Raises ``ValueError`` if the register count is wrong. A float holding NaN or infinity
    decodes to that non-finite float; callers decide its quality.
    """
    if data_type == "string":
        raise ValueError("a string is not a number: use decode_string")
    expected = register_count(data_type)
    if len(registers) != expected:
        raise ValueError(f"{data_type} needs {expected} registers, got {len(registers)}")
    if data_type == "bit":
        return float((registers[0] >> bit) & 1)
    regs = _swap_bytes(registers) if _byte_swapped(byte_order) else list(registers)
    raw = ModbusTcpClient.convert_from_registers(
        regs, _PYMODBUS_TYPE[data_type], word_order=_word_order(byte_order)
    )
    assert isinstance(raw, (int, float))
    return apply_scale(raw, scale, offset)


def decode_string(registers: Sequence[int], *, byte_order: ByteOrder = "ABCD") -> str:
    """Two ASCII/UTF-8 characters per register, trailing NULs and spaces removed.

    Only the byte swap of the order applies (``BADC``/``DCBA``: low byte first)."""
    regs = _swap_bytes(registers) if _byte_swapped(byte_order) else registers
    raw = b"".join(r.to_bytes(2, "big") for r in regs)
    return raw.rstrip(b"\x00 ").decode("utf-8", errors="replace")


def encode(
    value: float,
    *,
    data_type: DataType,
    byte_order: ByteOrder = "ABCD",
    scale: float = 1.0,
    offset: float = 0.0,
    clamp: bool = False,
) -> list[int]:
    """Encode an engineering value into registers; the inverse of :func:`decode`.

    Integer types round to the nearest raw value. A raw value outside the type's range
    raises ``ValueError``, or is clamped to the range when ``clamp`` is true.
    """
    if data_type == "string":
        raise ValueError("a string is not a number: use encode_string")
    if not math.isfinite(value):
        raise ValueError(f"cannot encode non-finite value {value!r}")
    exact = isinstance(value, int) and scale == 1.0 and offset == 0.0
    raw: float = value if exact else (value - offset) / scale
    number: int | float
    if data_type in FLOAT_TYPES:
        low, high = raw_range(data_type)
        number = raw
    else:
        low, high = INT_RANGES.get(data_type, (0, 1))
        number = round(raw)
    if not low <= number <= high:
        if not clamp:
            raise ValueError(f"raw value {raw!r} is outside the {data_type} range")
        number = min(max(number, low), high)
    if data_type == "bit":
        return [int(number)]
    pm_type = _PYMODBUS_TYPE[data_type]
    regs = ModbusTcpClient.convert_to_registers(number, pm_type, word_order=_word_order(byte_order))
    return _swap_bytes(regs) if _byte_swapped(byte_order) else regs


def encode_string(text: str, *, length: int, byte_order: ByteOrder = "ABCD") -> list[int]:
    """``text`` in ``length`` registers, NUL-padded; ``ValueError`` if it does not fit."""
    raw = text.encode("utf-8")
    if len(raw) > 2 * length:
        raise ValueError(f"{len(raw)} bytes do not fit in {length} registers")
    raw = raw.ljust(2 * length, b"\x00")
    regs = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return _swap_bytes(regs) if _byte_swapped(byte_order) else regs


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One value inside a block: where it sits and how to turn it into a number."""

    name: str
    address: int
    data_type: DataType
    byte_order: ByteOrder = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    bit: int = 0
    length: int = 0

    @property
    def count(self) -> int:
        return register_count(self.data_type, length=self.length)


class BlockDecoder:
    """Decodes all numeric values of one block of registers with one ``struct.unpack``.

    Built once per read request. Values must not overlap, except bits sharing a register.
    :meth:`decode` returns ``(values, bad)``: the values by name in field order, and the
    names whose value is not finite after scale and offset: NaN or infinity from a float
    register, or any register scaled past the range of a double (``int32`` times ``1e300``).
    """

    __slots__ = (
        "_float_slots",
        "_names",
        "_pack",
        "_perm",
        "_plain",
        "_plain_names",
        "_post",
        "_swap",
        "_unpack",
        "address",
        "count",
    )

    def __init__(self, address: int, count: int, fields: Sequence[FieldSpec]) -> None:
        self.address = address
        self.count = count
        ordered = sorted(fields, key=lambda f: (f.address, f.bit))
        perm = list(range(count))
        swap: list[int] = []
        fmt = [">"]
        slot_of_address: dict[int, int] = {}
        cursor = address
        slots = 0
        names: list[str] = []
        slot_index: list[int] = []
        for spec in ordered:
            if spec.data_type == "string":
                raise ValueError(f"{spec.name}: a string is not decoded as a number")
            rel = spec.address - address
            if rel < 0 or rel + spec.count > count:
                raise ValueError(f"{spec.name}: outside the block {address}+{count}")
            if spec.data_type == "bit" and spec.address in slot_of_address:
                names.append(spec.name)
                slot_index.append(slot_of_address[spec.address])
                continue
            if spec.address < cursor:
                raise ValueError(f"{spec.name}: overlaps the value before it")
            if spec.address > cursor:
                fmt.append(f"{2 * (spec.address - cursor)}x")
            if spec.data_type == "bit":
                fmt.append("H")
                slot_of_address[spec.address] = slots
            else:
                fmt.append(_STRUCT_CODE[spec.data_type])
                width = spec.count
                if _word_order(spec.byte_order) == "little":
                    perm[rel : rel + width] = list(reversed(range(rel, rel + width)))
                if _byte_swapped(spec.byte_order):
                    swap.extend(range(rel, rel + width))
            names.append(spec.name)
            slot_index.append(slots)
            slots += 1
            cursor = spec.address + spec.count
        if cursor < address + count:
            fmt.append(f"{2 * (address + count - cursor)}x")
        self._pack = struct.Struct(f">{count}H").pack
        self._unpack = struct.Struct("".join(fmt)).unpack
        self._perm = None if perm == list(range(count)) else perm
        self._swap = tuple(swap)
        self._names = tuple(names)
        # Fields read straight from their slot (no bit, no scale): one zip builds them.
        post: list[tuple[str, int, int, float, bool, float]] = []
        plain: list[tuple[str, int]] = []
        float_slots: list[int] = []
        for spec, slot in zip(ordered, slot_index, strict=True):
            if spec.data_type in FLOAT_TYPES:
                float_slots.append(slot)
            if spec.data_type == "bit":
                post.append((spec.name, slot, spec.bit, 1.0, False, 0.0))
            elif spec.scale != 1.0 or spec.offset != 0.0:
                factor, divide = scaler(spec.scale, spec.offset)
                post.append((spec.name, slot, -1, factor, divide, spec.offset))
            else:
                plain.append((spec.name, slot))
        self._post = tuple(post)
        self._plain_names = tuple(name for name, _ in plain)
        self._plain = _picker([slot for _, slot in plain])
        self._float_slots = _picker(float_slots) if float_slots else None

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def decode(self, registers: Sequence[int]) -> tuple[dict[str, float], list[str]]:
        regs = registers
        if self._swap:
            regs = list(regs)
            for i in self._swap:
                r = regs[i]
                regs[i] = ((r & 0xFF) << 8) | (r >> 8)
        if self._perm is not None:
            regs = [regs[i] for i in self._perm]
        return self._values(self._unpack(self._pack(*regs)))

    def decode_bytes(
        self, data: bytes, registers: Sequence[int]
    ) -> tuple[dict[str, float], list[str]]:
        """Like :meth:`decode`, from the registers' wire bytes (big-endian, as Modbus sends
        them); falls back to ``registers`` when byte or word swaps are needed."""
        if self._swap or self._perm is not None or len(data) != 2 * self.count:
            return self.decode(registers)
        return self._values(self._unpack(data))

    def _values(self, raw: tuple[Any, ...]) -> tuple[dict[str, float], list[str]]:
        values: dict[str, float] = dict(zip(self._plain_names, self._plain(raw), strict=False))
        scaled = 0.0  # the sum of the scaled values: not finite if one of them is not
        for name, slot, bit, factor, divide, offset in self._post:
            value = raw[slot]
            if bit >= 0:
                values[name] = (value >> bit) & 1
                continue
            value = value / factor + offset if divide else value * factor + offset
            values[name] = value
            scaled += value
        bad: list[str] = []
        floats = self._float_slots
        if not math.isfinite(scaled) or (
            floats is not None and not math.isfinite(sum(floats(raw)))
        ):
            bad = [n for n, v in values.items() if not math.isfinite(v)]
        return values, bad


def _picker(slots: Sequence[int]) -> Callable[[tuple[Any, ...]], Sequence[Any]]:
    """A C-speed ``lambda raw: [raw[i] for i in slots]``."""
    if list(slots) == list(range(len(slots))):
        return lambda raw: raw[: len(slots)]
    if len(slots) == 1:
        only = slots[0]
        return lambda raw: (raw[only],)
    return operator.itemgetter(*slots)
