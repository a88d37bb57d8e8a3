"""One scan of a device, without the network: which requests to send, and the reading.

:func:`plan_requests` merges a device's registers into as few read requests as the
Modbus limit (125 registers per request) and the device's ``max_gap_registers`` allow.
:func:`assemble_reading` turns the answers into a :class:`~contracts.readings.Reading`:

- a value decoded from an answer has quality ``good``;
- a value whose request the device refused (or that decodes to NaN or infinity) has
  quality ``bad`` and carries the last good value of that sensor; before the sensor
  ever had a good value it is left out of the reading;
- a scan left with no value at all produces no reading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from connectors.decoding import Table, decode
from connectors.devices import Device, Register
from contracts.readings import Quality, Reading

MAX_REGISTERS_PER_REQUEST = 125


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One read of ``count`` registers of ``table`` from ``address`` on."""

    table: Table
    address: int
    count: int
    registers: tuple[Register, ...]


@dataclass(frozen=True, slots=True)
class BlockAnswer:
    """What the device answered to one request: its registers, or why it refused."""

    request: ReadRequest
    registers: Sequence[int] | None
    refusal: str = ""


def plan_requests(
    registers: Sequence[Register],
    *,
    max_gap_registers: int = 0,
    max_registers_per_request: int = MAX_REGISTERS_PER_REQUEST,
) -> tuple[ReadRequest, ...]:
    """Group registers by table and address into the fewest requests.

    Two registers share a request when at most ``max_gap_registers`` unused registers lie
    between them and the request stays within ``max_registers_per_request``.
    """
    requests: list[ReadRequest] = []
    for table in ("holding", "input"):
        in_table = sorted((r for r in registers if r.table == table), key=lambda r: r.address)
        group: list[Register] = []
        for reg in in_table:
            if group:
                start, end = group[0].address, max(r.end for r in group)
                if reg.address - end <= max_gap_registers and (
                    max(end, reg.end) - start <= max_registers_per_request
                ):
                    group.append(reg)
                    continue
                requests.append(_request(table, group))
            group = [reg]
        if group:
            requests.append(_request(table, group))
    return tuple(requests)


def _request(table: Table, group: list[Register]) -> ReadRequest:
    start = group[0].address
    end = max(r.end for r in group)
    return ReadRequest(table=table, address=start, count=end - start, registers=tuple(group))


def assemble_reading(
    device: Device,
    answers: Sequence[BlockAnswer],
    *,
    ts_ms: int,
    seq: int,
    last_good: Mapping[str, float],
) -> Reading | None:
    """Decode every answer of one scan into a reading (see the module docstring)."""
    decoded: dict[str, tuple[float, Quality]] = {}
    for answer in answers:
        for reg in answer.request.registers:
            value = _value_of(reg, answer)
            if value is not None:
                decoded[reg.name] = (value, "good")
            elif reg.name in last_good:
                decoded[reg.name] = (last_good[reg.name], "bad")
    values: dict[str, float] = {}
    quality: dict[str, Quality] = {}
    for reg in device.registers:
        if reg.name in decoded:
            values[reg.name], quality[reg.name] = decoded[reg.name]
    if not values:
        return None
    return Reading(
        machine_id=device.machine_id,
        ts_ms=ts_ms,
        values=values,
        quality=quality,
        seq=seq,
        source=device.source,
        plant=device.plant,
        line=device.line,
    )


def _value_of(reg: Register, answer: BlockAnswer) -> float | None:
    if answer.registers is None:
        return None
    start = reg.address - answer.request.address
    raw = answer.registers[start : start + reg.count]
    if len(raw) != reg.count:
        return None
    value = decode(
        raw,
        data_type=reg.type,
        word_order=reg.word_order,
        scale=reg.scale,
        offset=reg.offset,
    )
    return value if math.isfinite(value) else None
