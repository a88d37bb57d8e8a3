"""What a register can be: its table, its data type, its byte order, and how many 16-bit
registers a value of each type occupies.

Pure names shared by the devices file (:mod:`connectors.config.devices`), which validates
against them, and by the Modbus side (:mod:`connectors.modbus`), which decodes with them.
"""

from __future__ import annotations

from typing import Literal, get_args

DataType = Literal[
    "bit", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string"
]
ByteOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]
Table = Literal["coil", "discrete", "holding", "input"]

DATA_TYPES: tuple[str, ...] = get_args(DataType)
BYTE_ORDERS: tuple[str, ...] = get_args(ByteOrder)
TABLES: tuple[str, ...] = get_args(Table)
# Tables of single bits (function codes 1 and 2), as opposed to 16-bit registers.
BIT_TABLES: tuple[Table, ...] = ("coil", "discrete")
# The seed's names for the two word orders.
ORDER_ALIASES: dict[str, ByteOrder] = {"big": "ABCD", "little": "CDAB"}
FLOAT_TYPES: tuple[str, ...] = ("float32", "float64")
# 16-bit registers of one numeric value (a string has its own length; a bit takes one).
REGISTER_WIDTHS: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
    "float64": 4,
}


def register_count(data_type: DataType, *, length: int = 0) -> int:
    """How many 16-bit registers one value of ``data_type`` occupies (``length`` for a
    string, 1 for a bit of a register)."""
    if data_type == "string":
        return length
    if data_type == "bit":
        return 1
    return REGISTER_WIDTHS[data_type]
