"""Where a simulated device keeps its values: one block of registers per table, spanning
its tags (and the run register its stop/start commands write), and the registers that
hold a given set of values. Pure: the server writes what these compute."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from connectors.config.devices import Device, Register
from connectors.config.register_types import BIT_TABLES, Table
from connectors.modbus.decoding import encode, encode_string
from connectors.simulator.model import extra_signal, text_signal

FUNCTION_CODE: dict[Table, int] = {"holding": 3, "input": 4, "coil": 1, "discrete": 2}
# The tables a Modbus client can write (function codes 5, 6, 15, 16).
CLIENT_WRITABLE: frozenset[Table] = frozenset(("holding", "coil"))
# Float registers in the Modbus order, unscaled (most simulated tags): packed with one
# struct call instead of pymodbus' generic conversion, which was a third of the simulator's
# time with thirty tags a machine.
_FLOAT32_WORDS = struct.Struct(">f").pack, struct.Struct(">HH").unpack
_FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True, slots=True)
class TableBlock:
    """The span of one table of one device, from ``address`` for ``count`` registers."""

    table: Table
    address: int
    count: int
    registers: tuple[Register, ...]


def run_register(device: Device) -> tuple[int, int, int] | None:
    """``(address, stop value, start value)`` of the holding register that the device's
    stop/start commands write, if both are configured there."""
    stop, start = device.commands.stop, device.commands.start
    if stop is None or start is None or stop.table != "holding" or start.table != "holding":
        return None
    if stop.address != start.address:
        return None
    return (stop.address, stop.value, start.value)


def table_blocks(device: Device) -> tuple[TableBlock, ...]:
    """One block per table the device uses, covering all of that table's registers (and
    the run register of its stop/start commands)."""
    blocks = []
    run = run_register(device)
    for table in FUNCTION_CODE:
        regs = tuple(r for r in device.registers if r.table == table)
        addresses = [r.address for r in regs] + [r.end - 1 for r in regs]
        if table == "holding" and run is not None:
            addresses.append(run[0])
        if addresses:
            start = min(addresses)
            end = max(addresses) + 1
            blocks.append(TableBlock(table, start, end - start, regs))
    return tuple(blocks)


def keeps_client_writes(block: TableBlock, run_address: int | None = None) -> bool:
    """Whether a client's writes to ``block`` must survive the simulator's update: it is a
    table clients write (holding, coil) with a writable tag, a register of no tag, or the
    run register at ``run_address``. Otherwise every register is the model's, rewritten."""
    if block.table not in CLIENT_WRITABLE:
        return False
    if any(r.writable for r in block.registers):
        return True
    if run_address is not None and block.address <= run_address < block.address + block.count:
        return True
    covered: set[int] = set()
    for r in block.registers:
        covered.update(range(r.address, r.end))
    return len(covered) < block.count


def block_values(
    block: TableBlock,
    values: dict[str, float],
    *,
    now_s: float,
    current: list[int] | None = None,
) -> list[int]:
    """The registers of ``block`` holding ``values`` (encoded per register spec).

    Sensors missing from ``values`` get :func:`extra_signal`; values a register type
    cannot hold are clamped to its range. With ``current`` (the block as it is now),
    writable tags and registers of no tag keep what is there: what a client wrote stays.
    """
    out = list(current) if current is not None else [0] * block.count
    for reg in block.registers:
        if current is not None and reg.writable:
            continue
        if reg.writable:
            value = (reg.min or 0.0) if reg.max is None else (reg.min or 0.0) / 2 + reg.max / 2
        elif reg.type == "string":
            value = 0.0
        elif reg.name in values:
            value = values[reg.name]
        elif block.table in BIT_TABLES:
            value = float(extra_signal(reg.name, now_s=now_s) >= 50.0)
        else:
            value = extra_signal(reg.name, now_s=now_s)
        start = reg.address - block.address
        if block.table in BIT_TABLES:
            out[start] = int(value >= 0.5)
            continue
        if reg.type == "string":
            text = text_signal(reg.name, now_s=now_s)[: 2 * reg.length]
            out[start : start + reg.count] = encode_string(
                text, length=reg.length, byte_order=reg.byte_order
            )
            continue
        if reg.type == "bit":
            bit = 1 << reg.bit
            out[start] = (out[start] | bit) if value >= 0.5 else (out[start] & ~bit)
            continue
        if (
            reg.type == "float32"
            and reg.byte_order == "ABCD"
            and reg.scale == 1.0
            and reg.offset == 0.0
            and math.isfinite(value)
            and -_FLOAT32_MAX <= value <= _FLOAT32_MAX
        ):
            pack, words = _FLOAT32_WORDS
            out[start], out[start + 1] = words(pack(value))
            continue
        out[start : start + reg.count] = encode(
            value,
            data_type=reg.type,
            byte_order=reg.byte_order,
            scale=reg.scale,
            offset=reg.offset,
            clamp=True,
        )
    return out
