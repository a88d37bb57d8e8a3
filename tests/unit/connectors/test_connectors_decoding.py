"""Register decoding: known vectors and round-trip properties for every type and word order."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.decoding import (
    DATA_TYPES,
    WORD_ORDERS,
    DataType,
    WordOrder,
    decode,
    encode,
    raw_range,
    register_count,
)

INT_TYPES: tuple[DataType, ...] = ("int16", "uint16", "int32", "uint32")
register = st.integers(min_value=0, max_value=0xFFFF)
word_orders = st.sampled_from(WORD_ORDERS)
scales = st.floats(min_value=1e-4, max_value=1e4).flatmap(lambda x: st.sampled_from([x, -x]))
offsets = st.floats(min_value=-1e4, max_value=1e4)


@pytest.mark.parametrize(
    ("registers", "data_type", "word_order", "expected"),
    [
        ([0x4286, 0x3D71], "float32", "big", 67.12),
        ([0x3D71, 0x4286], "float32", "little", 67.12),
        ([0xFFFF], "int16", "big", -1.0),
        ([0xFFFF], "uint16", "little", 65535.0),
        ([0xFFFF, 0xFFFE], "int32", "big", -2.0),
        ([0xFFFE, 0xFFFF], "int32", "little", -2.0),
        ([0x0001, 0x0000], "uint32", "big", 65536.0),
        ([0x0000, 0x0001], "uint32", "little", 65536.0),
    ],
)
def test_known_vectors(
    registers: list[int], data_type: DataType, word_order: WordOrder, expected: float
) -> None:
    assert decode(registers, data_type=data_type, word_order=word_order) == expected
    assert encode(expected, data_type=data_type, word_order=word_order) == registers


def test_scale_and_offset_apply_to_the_raw_value() -> None:
    assert decode([655], data_type="int16", scale=0.1) == 65.5
    assert decode([3], data_type="int16", scale=0.1) == 0.3
    assert decode([100], data_type="uint16", scale=0.5, offset=-10.0) == 40.0
    assert encode(40.0, data_type="uint16", scale=0.5, offset=-10.0) == [100]


def test_float32_decodes_to_the_shortest_equal_decimal() -> None:
    regs = encode(67.11902618408203, data_type="float32")
    assert decode(regs, data_type="float32") == 67.119026


@pytest.mark.parametrize("data_type", DATA_TYPES)
def test_register_count_matches_the_type_width(data_type: DataType) -> None:
    assert register_count(data_type) == (1 if data_type.endswith("16") else 2)
    with pytest.raises(ValueError, match="registers"):
        decode([0] * (register_count(data_type) + 1), data_type=data_type)


@pytest.mark.parametrize("data_type", INT_TYPES)
def test_out_of_range_raises_or_clamps(data_type: DataType) -> None:
    low, high = raw_range(data_type)
    with pytest.raises(ValueError, match="outside"):
        encode(high + 1, data_type=data_type)
    with pytest.raises(ValueError, match="outside"):
        encode(low - 1, data_type=data_type)
    assert decode(encode(high + 1000, data_type=data_type, clamp=True), data_type=data_type) == high
    assert decode(encode(low - 1000, data_type=data_type, clamp=True), data_type=data_type) == low


def test_non_finite_values_cannot_be_encoded_but_decode_as_such() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        encode(math.nan, data_type="float32")
    assert math.isnan(decode([0x7FC0, 0x0000], data_type="float32"))
    assert decode([0x7F80, 0x0000], data_type="float32") == math.inf


@given(data=st.data(), data_type=st.sampled_from(DATA_TYPES), word_order=word_orders)
def test_registers_round_trip_for_every_type_and_word_order(
    data: st.DataObject, data_type: DataType, word_order: WordOrder
) -> None:
    regs = data.draw(
        st.lists(register, min_size=register_count(data_type), max_size=register_count(data_type))
    )
    value = decode(regs, data_type=data_type, word_order=word_order)
    if math.isfinite(value):
        assert encode(value, data_type=data_type, word_order=word_order) == regs


@given(
    data=st.data(),
    data_type=st.sampled_from(INT_TYPES),
    word_order=word_orders,
    scale=scales,
    offset=offsets,
)
def test_integer_registers_round_trip_with_scale_and_offset(
    data: st.DataObject, data_type: DataType, word_order: WordOrder, scale: float, offset: float
) -> None:
    low, high = raw_range(data_type)
    raw = data.draw(st.integers(min_value=int(low), max_value=int(high)))
    regs = encode(raw, data_type=data_type, word_order=word_order)
    value = decode(regs, data_type=data_type, word_order=word_order, scale=scale, offset=offset)
    assert math.isclose(value, raw * scale + offset, rel_tol=1e-12, abs_tol=1e-9)
    back = encode(value, data_type=data_type, word_order=word_order, scale=scale, offset=offset)
    assert back == regs


@given(
    value=st.floats(min_value=-1e6, max_value=1e6),
    word_order=word_orders,
    scale=scales,
    offset=offsets,
)
def test_float32_values_round_trip_within_float32_precision(
    value: float, word_order: WordOrder, scale: float, offset: float
) -> None:
    kwargs = {"word_order": word_order, "scale": scale, "offset": offset}
    regs = encode(value, data_type="float32", **kwargs)  # type: ignore[arg-type]
    back = decode(regs, data_type="float32", **kwargs)  # type: ignore[arg-type]
    raw = (value - offset) / scale
    tolerance = 2.5e-7 * abs(raw * scale) + 1e-12 * max(1.0, abs(value), abs(offset))
    assert abs(back - value) <= tolerance


@given(raw=st.integers(min_value=0, max_value=0xFFFF))
def test_word_order_does_not_matter_for_16_bit_types(raw: int) -> None:
    for data_type in ("int16", "uint16"):
        big = decode([raw], data_type=data_type, word_order="big")
        assert decode([raw], data_type=data_type, word_order="little") == big
