"""Register decoding: known vectors, and property tests against pymodbus' own encoders
(``convert_to_registers``) for every data type and byte order, for both the one-value
decoder and the block decoder the poller uses."""

from __future__ import annotations

import math
import struct
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from connectors.config.register_types import BYTE_ORDERS, ByteOrder, DataType, register_count
from connectors.modbus.decoding import (
    INT_RANGES,
    BlockDecoder,
    FieldSpec,
    decode,
    decode_string,
    encode,
    encode_string,
)

NUMERIC: tuple[DataType, ...] = (
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
)
INT_TYPES: tuple[DataType, ...] = ("int16", "uint16", "int32", "uint32", "int64", "uint64")
PM = ModbusTcpClient.DATATYPE
PM_TYPE = {
    "int16": PM.INT16,
    "uint16": PM.UINT16,
    "int32": PM.INT32,
    "uint32": PM.UINT32,
    "int64": PM.INT64,
    "uint64": PM.UINT64,
    "float32": PM.FLOAT32,
    "float64": PM.FLOAT64,
}
orders = st.sampled_from(BYTE_ORDERS)
register = st.integers(min_value=0, max_value=0xFFFF)
scales = st.floats(min_value=1e-4, max_value=1e4).flatmap(lambda x: st.sampled_from([x, -x]))
offsets = st.floats(min_value=-1e4, max_value=1e4)


def pymodbus_registers(value: float, data_type: DataType, order: ByteOrder) -> list[int]:
    """What pymodbus encodes, word order from the order's first letter pair, bytes swapped
    for BADC/DCBA (pymodbus has no byte-swap option)."""
    word_order: Literal["big", "little"] = "big" if order in ("ABCD", "BADC") else "little"
    number: int | float = value if data_type.startswith("float") else int(value)
    regs = ModbusTcpClient.convert_to_registers(number, PM_TYPE[data_type], word_order=word_order)
    if order in ("BADC", "DCBA"):
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    return regs


def raw_values(data_type: DataType) -> st.SearchStrategy[float] | st.SearchStrategy[int]:
    if data_type == "float32":
        return st.floats(width=32, allow_nan=False, allow_infinity=False)
    if data_type == "float64":
        return st.floats(allow_nan=False, allow_infinity=False)
    low, high = INT_RANGES[data_type]
    return st.integers(min_value=low, max_value=high)


@pytest.mark.parametrize(
    ("registers", "data_type", "order", "expected"),
    [
        ([0x4286, 0x3D71], "float32", "ABCD", 67.12000274658203),
        ([0x3D71, 0x4286], "float32", "CDAB", 67.12000274658203),
        ([0x8642, 0x713D], "float32", "BADC", 67.12000274658203),
        ([0x713D, 0x8642], "float32", "DCBA", 67.12000274658203),
        ([0xFFFF], "int16", "ABCD", -1.0),
        ([0xFFFF], "uint16", "CDAB", 65535.0),
        ([0x0100], "uint16", "BADC", 1.0),
        ([0xFFFF, 0xFFFE], "int32", "ABCD", -2.0),
        ([0xFFFE, 0xFFFF], "int32", "CDAB", -2.0),
        ([0x0001, 0x0000], "uint32", "ABCD", 65536.0),
        ([0, 0, 0, 1], "uint64", "ABCD", 1.0),
        ([1, 0, 0, 0], "uint64", "CDAB", 1.0),
        ([0x3FF8, 0, 0, 0], "float64", "ABCD", 1.5),
    ],
)
def test_known_vectors(
    registers: list[int], data_type: DataType, order: ByteOrder, expected: float
) -> None:
    assert decode(registers, data_type=data_type, byte_order=order) == expected
    assert encode(expected, data_type=data_type, byte_order=order) == registers
    (value,) = (
        BlockDecoder(0, len(registers), [FieldSpec("x", 0, data_type, order)])
        .decode(registers)[0]
        .values()
    )
    assert value == expected


def test_scale_and_offset_apply_to_the_raw_value() -> None:
    assert decode([655], data_type="int16", scale=0.1) == 65.5
    assert decode([3], data_type="int16", scale=0.1) == 0.3
    assert decode([100], data_type="uint16", scale=0.5, offset=-10.0) == 40.0
    assert encode(40.0, data_type="uint16", scale=0.5, offset=-10.0) == [100]


def test_bits_of_a_register_and_strings() -> None:
    assert decode([0b1010], data_type="bit", bit=1) == 1.0
    assert decode([0b1010], data_type="bit", bit=2) == 0.0
    regs = encode_string("ST-20", length=4)
    assert regs == ModbusTcpClient.convert_to_registers("ST-20\x00\x00\x00", PM.STRING)
    assert decode_string(regs) == "ST-20"
    assert decode_string(encode_string("ab", length=1, byte_order="BADC"), byte_order="BADC") == (
        "ab"
    )
    with pytest.raises(ValueError, match="do not fit"):
        encode_string("too long", length=2)


@pytest.mark.parametrize("data_type", NUMERIC)
def test_register_count_matches_the_type_width(data_type: DataType) -> None:
    assert register_count(data_type) == struct.calcsize(PM_TYPE[data_type].value[0]) // 2
    with pytest.raises(ValueError, match="registers"):
        decode([0] * (register_count(data_type) + 1), data_type=data_type)


@pytest.mark.parametrize("data_type", INT_TYPES)
def test_out_of_range_raises_or_clamps(data_type: DataType) -> None:
    low, high = INT_RANGES[data_type]
    with pytest.raises(ValueError, match="outside"):
        encode(high * 2 + 10, data_type=data_type)
    with pytest.raises(ValueError, match="outside"):
        encode(low * 2 - 10, data_type=data_type)
    assert decode(encode(high * 4, data_type=data_type, clamp=True), data_type=data_type) == high
    assert decode(encode(low * 4 - 9, data_type=data_type, clamp=True), data_type=data_type) == low


def test_non_finite_values_cannot_be_encoded_but_decode_as_such() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        encode(math.nan, data_type="float32")
    assert math.isnan(decode([0x7FC0, 0x0000], data_type="float32"))
    assert decode([0x7F80, 0x0000], data_type="float32") == math.inf
    block = BlockDecoder(0, 4, [FieldSpec("a", 0, "float32"), FieldSpec("b", 2, "float32")])
    values, bad = block.decode([0x7FC0, 0, 0x4286, 0x3D71])
    assert bad == ["a"]
    assert values["b"] == 67.12000274658203


@given(data=st.data(), data_type=st.sampled_from(NUMERIC), order=orders)
def test_decoding_pymodbus_registers_gives_the_value_back(
    data: st.DataObject, data_type: DataType, order: ByteOrder
) -> None:
    value = data.draw(raw_values(data_type))
    regs = pymodbus_registers(value, data_type, order)
    assert decode(regs, data_type=data_type, byte_order=order) == value
    assert encode(value, data_type=data_type, byte_order=order) == regs
    block = BlockDecoder(100, len(regs), [FieldSpec("v", 100, data_type, order)])
    assert block.decode(regs) == ({"v": value}, [])


@given(
    data=st.data(),
    fields=st.lists(
        st.tuples(st.sampled_from(NUMERIC), orders, st.integers(min_value=0, max_value=3)),
        min_size=1,
        max_size=12,
    ),
)
def test_block_decoder_matches_pymodbus_on_mixed_blocks(
    data: st.DataObject, fields: list[tuple[DataType, ByteOrder, int]]
) -> None:
    """Many values of mixed types and orders, with gaps, decoded in one call."""
    regs: list[int] = []
    specs: list[FieldSpec] = []
    expected: dict[str, float] = {}
    for i, (data_type, order, gap) in enumerate(fields):
        regs.extend(data.draw(st.lists(register, min_size=gap, max_size=gap)))
        value = data.draw(raw_values(data_type))
        specs.append(FieldSpec(f"v{i}", 10 + len(regs), data_type, order))
        regs.extend(pymodbus_registers(value, data_type, order))
        expected[f"v{i}"] = value
    values, bad = BlockDecoder(10, len(regs), specs).decode(regs)
    assert values == expected
    assert bad == []


@given(
    data=st.data(),
    data_type=st.sampled_from(INT_TYPES),
    order=orders,
    scale=scales,
    offset=offsets,
)
def test_integer_registers_round_trip_with_scale_and_offset(
    data: st.DataObject, data_type: DataType, order: ByteOrder, scale: float, offset: float
) -> None:
    low, high = INT_RANGES[data_type]
    raw = data.draw(st.integers(min_value=max(low, -(2**40)), max_value=min(high, 2**40)))
    regs = pymodbus_registers(raw, data_type, order)
    value = decode(regs, data_type=data_type, byte_order=order, scale=scale, offset=offset)
    assert math.isclose(value, raw * scale + offset, rel_tol=1e-12, abs_tol=1e-9)
    spec = FieldSpec("v", 0, data_type, order, scale=scale, offset=offset)
    assert BlockDecoder(0, len(regs), [spec]).decode(regs)[0] == {"v": value}
    if abs(raw) < 2**31:
        back = encode(value, data_type=data_type, byte_order=order, scale=scale, offset=offset)
        assert back == regs


@given(word=register, bits=st.sets(st.integers(min_value=0, max_value=15), min_size=1))
def test_bits_of_one_register_share_one_read(word: int, bits: set[int]) -> None:
    specs = [FieldSpec(f"b{b}", 5, "bit", bit=b) for b in sorted(bits)]
    values, _ = BlockDecoder(5, 1, specs).decode([word])
    assert values == {f"b{b}": (word >> b) & 1 for b in bits}
    for b in bits:
        assert decode([word], data_type="bit", bit=b) == (word >> b) & 1


@given(raw=register)
def test_byte_order_only_swaps_bytes_for_16_bit_types(raw: int) -> None:
    for data_type in ("int16", "uint16"):
        abcd = decode([raw], data_type=data_type, byte_order="ABCD")
        assert decode([raw], data_type=data_type, byte_order="CDAB") == abcd
        swapped = [((raw & 0xFF) << 8) | (raw >> 8)]
        assert decode(swapped, data_type=data_type, byte_order="BADC") == abcd


def test_overlapping_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        BlockDecoder(0, 4, [FieldSpec("a", 0, "float32"), FieldSpec("b", 1, "uint16")])


@given(regs=st.lists(register, min_size=1, max_size=125))
def test_fast_responses_decode_like_pymodbus(regs: list[int]) -> None:
    from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

    from connectors.modbus.fast_pdu import FastReadHoldingRegistersResponse

    data = ReadHoldingRegistersResponse(registers=regs).encode()
    theirs = ReadHoldingRegistersResponse()
    theirs.decode(data)
    ours = FastReadHoldingRegistersResponse()
    ours.decode(data)
    assert ours.registers == theirs.registers == regs
    assert ours.raw == struct.pack(f">{len(regs)}H", *regs)


@given(data=st.data(), order=orders)
def test_block_decoding_from_wire_bytes_matches_registers(
    data: st.DataObject, order: ByteOrder
) -> None:
    value = data.draw(raw_values("float32"))
    regs = [*pymodbus_registers(value, "float32", order), data.draw(register)]
    specs = [FieldSpec("f", 0, "float32", order), FieldSpec("u", 2, "uint16")]
    block = BlockDecoder(0, 3, specs)
    wire = struct.pack(">3H", *regs)
    assert block.decode_bytes(wire, regs) == block.decode(regs)
    assert block.decode(regs)[0] == {"f": value, "u": regs[2]}


@given(
    text=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20
    ),
    spare=st.integers(0, 3),
    byte_order=st.sampled_from(BYTE_ORDERS),
)
def test_strings_decode_what_pymodbus_encodes(text: str, spare: int, byte_order: ByteOrder) -> None:
    """pymodbus' STRING encoder (high byte first, NUL-padded to whole registers); a byte
    order with swapped bytes (BADC, DCBA) reads each register low byte first."""
    padded = text + "\x00" * (len(text) % 2 + 2 * spare)
    regs = ModbusTcpClient.convert_to_registers(padded, PM.STRING)
    if byte_order in ("BADC", "DCBA"):
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    assert decode_string(regs, byte_order=byte_order) == text
    assert encode_string(text, length=len(regs), byte_order=byte_order) == regs


@pytest.mark.parametrize(
    ("data_type", "raw", "scale", "offset"),
    [
        ("int32", 2**31 - 1, 1e300, 0.0),
        ("int32", -(2**31), 1e300, 0.0),
        ("uint64", 2**64 - 1, 1e300, 0.0),
        ("int16", 30_000, -1e305, 5.0),
        ("float32", 3.0e38, 1e300, 0.0),
    ],
)
def test_a_value_scaled_past_the_float_range_is_named_not_finite(
    data_type: DataType, raw: int | float, scale: float, offset: float
) -> None:
    fields = [
        FieldSpec("ok", 0, "uint16", scale=0.1),
        FieldSpec("big", 1, data_type, scale=scale, offset=offset),
    ]
    decoder = BlockDecoder(0, 1 + register_count(data_type), fields)
    values, bad = decoder.decode([215, *encode(raw, data_type=data_type)])
    assert bad == ["big"]
    assert math.isinf(values["big"])
    assert values["ok"] == 21.5


def test_register_widths_are_pymodbus_widths() -> None:
    # The devices file counts registers without pymodbus; the decoder unpacks with it.
    for data_type in NUMERIC:
        width = ModbusTcpClient.DATATYPE[data_type.upper()].value[1]
        assert register_count(data_type) == width, data_type
