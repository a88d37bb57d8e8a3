"""One scan of a device, without the network: which requests to send, and the reading.

:func:`plan_requests` merges a device's tags into as few read requests as the Modbus
limits (125 registers, 2,000 bits per request), the device's ``max_gap_registers`` and its
``workarounds`` allow, per table and per poll interval. :class:`ScanAssembler` turns the
answers into a :class:`~contracts.readings.Reading`:

- a value decoded from an answer has quality ``good``;
- a value whose request the device refused (or that is NaN or infinity after scale and
  offset) has quality ``bad`` and carries the last good value of that tag; before the tag
  ever had a good value it is left out of the reading;
- a value that is not finite is counted in ``ScanAssembler.not_finite_values`` and logged
  when its tag turns not finite and when it is finite again;
- a ``string`` tag that is not UTF-8 or not printable turns ``bad`` like a value (its
  last good text, or left out), counted by reason in ``ScanAssembler.bad_text_reasons``;
- a scan left with no value at all produces no reading.

:func:`comm_loss_reading` is what the poller publishes when the device stops answering:
the last good values, each with quality ``comm_loss``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from connectors.config.devices import (
    MAX_BITS_PER_REQUEST,
    MAX_REGISTERS_PER_REQUEST,
    Device,
    Register,
)
from connectors.config.register_types import BIT_TABLES, ByteOrder, Table
from connectors.modbus.decoding import BlockDecoder, FieldSpec, decode_string
from contracts.readings import MAX_TEXT_CHARS, Quality, Reading

logger = logging.getLogger(__name__)

_TABLE_ORDER: tuple[Table, ...] = ("holding", "input", "coil", "discrete")


@dataclass(frozen=True, slots=True, eq=False)
class ReadRequest:
    """One read of ``count`` registers (or bits) of ``table`` from ``address`` on.

    Compared and hashed by identity: a plan is built once and its requests reused.
    """

    table: Table
    address: int
    count: int
    registers: tuple[Register, ...]
    interval_s: float = 1.0


@dataclass(slots=True)
class BlockAnswer:
    """What the device answered to one request: its registers or bits, or why it refused.

    Not frozen: three are built per scan, and a frozen dataclass' ``__init__`` sets each
    field through ``object.__setattr__`` (about 1 µs each time). Never changed once built.
    """

    request: ReadRequest
    registers: Sequence[int] | None
    refusal: str = ""
    # The registers' bytes as they came on the wire, when the client kept them.
    raw: bytes = b""


def plan_requests(
    registers: Sequence[Register],
    *,
    max_gap_registers: int = 0,
    max_registers_per_request: int = MAX_REGISTERS_PER_REQUEST,
    max_bits_per_request: int = MAX_BITS_PER_REQUEST,
    one_request_per_register: bool = False,
    interval_of: Mapping[str, float] | None = None,
) -> tuple[ReadRequest, ...]:
    """Group tags by poll interval, table and address into the fewest requests.

    Two tags share a request when they have the same interval and table, at most
    ``max_gap_registers`` unused addresses lie between them, and the request stays within
    the per-request limit. ``interval_of`` maps tag names to intervals (default 1.0 s).
    Requests come out by interval, then table (holding, input, coil, discrete), then address.
    """
    intervals = interval_of or {}

    def key(reg: Register) -> tuple[float, int]:
        return (intervals.get(reg.name, 1.0), _TABLE_ORDER.index(reg.table))

    requests: list[ReadRequest] = []
    for (interval, table_index), members in groupby(sorted(registers, key=key), key=key):
        table = _TABLE_ORDER[table_index]
        limit = max_bits_per_request if table in BIT_TABLES else max_registers_per_request
        group: list[Register] = []
        for reg in sorted(members, key=lambda r: (r.address, r.bit)):
            if group:
                start, end = group[0].address, max(r.end for r in group)
                fits = reg.address - end <= max_gap_registers and (
                    max(end, reg.end) - start <= limit
                )
                if fits and not one_request_per_register:
                    group.append(reg)
                    continue
                requests.append(_request(table, group, interval))
            group = [reg]
        if group:
            requests.append(_request(table, group, interval))
    return tuple(requests)


def _request(table: Table, group: list[Register], interval_s: float) -> ReadRequest:
    start = group[0].address
    end = max(r.end for r in group)
    return ReadRequest(
        table=table, address=start, count=end - start, registers=tuple(group), interval_s=interval_s
    )


def plan_device(device: Device) -> tuple[ReadRequest, ...]:
    """The read requests of a device, its workarounds respected."""
    quirks = device.workarounds
    return plan_requests(
        device.registers,
        max_gap_registers=device.max_gap_registers,
        max_registers_per_request=quirks.max_registers_per_request,
        one_request_per_register=quirks.one_request_per_register,
        interval_of={r.name: device.interval_of(r) for r in device.registers},
    )


@dataclass(slots=True)
class _BitDecoder:
    fields: tuple[tuple[str, int], ...]

    def decode(self, bits: Sequence[int]) -> tuple[dict[str, float], list[str]]:
        return {name: float(bool(bits[i])) for name, i in self.fields}, []


@dataclass(frozen=True, slots=True)
class _TextField:
    name: str
    offset: int  # registers from the start of the request
    length: int
    byte_order: ByteOrder

    def text(self, registers: Sequence[int]) -> tuple[str | None, str]:
        """``(text, "")``, or ``(None, reason)`` when it is not printable UTF-8 (quality
        bad); the reason is ``"not UTF-8"``, ``"not printable"`` or ``"too long"``."""
        chunk = registers[self.offset : self.offset + self.length]
        text = decode_string(chunk, byte_order=self.byte_order)
        if "\ufffd" in text:
            return None, "not UTF-8"
        if not text.isprintable():
            return None, "not printable"
        if len(text) > MAX_TEXT_CHARS:
            return None, "too long"
        return text, ""


@dataclass(slots=True)
class ScanAssembler:
    """Decodes the answers of one device's requests into readings (see module docstring)."""

    device: Device
    _decoders: dict[int, BlockDecoder | _BitDecoder] = field(default_factory=dict)
    _texts: dict[int, tuple[_TextField, ...]] = field(default_factory=dict)
    # The last good text of each string tag (a bad one is published as that, marked bad).
    last_texts: dict[str, str] = field(default_factory=dict)
    # Whether the last assembled reading had only good values (the poller's fast path).
    all_good: bool = True
    # String tags that read bad, counted by reason ("not UTF-8", "not printable", ...).
    bad_text_reasons: dict[str, int] = field(default_factory=dict)
    # Values that were NaN or infinity after scale and offset (published bad, or left out).
    not_finite_values: int = 0
    # The tags whose last decoded value was not finite.
    _not_finite_tags: set[str] = field(default_factory=set)
    # The device's ``source`` (a property that formats it each time), once.
    _source: str = ""

    def __post_init__(self) -> None:
        self._source = self.device.source

    def _decoder(self, request: ReadRequest) -> BlockDecoder | _BitDecoder:
        decoder = self._decoders.get(id(request))
        if decoder is None:
            if request.table in BIT_TABLES:
                decoder = _BitDecoder(
                    tuple((r.name, r.address - request.address) for r in request.registers)
                )
            else:
                numbers = [_field_spec(r) for r in request.registers if r.type != "string"]
                decoder = BlockDecoder(request.address, request.count, numbers)
                self._texts[id(request)] = tuple(
                    _TextField(r.name, r.address - request.address, r.length, r.byte_order)
                    for r in request.registers
                    if r.type == "string"
                )
            self._decoders[id(request)] = decoder
        return decoder

    def assemble(
        self,
        answers: Sequence[BlockAnswer],
        *,
        ts_ms: int,
        seq: int,
        last_good: Mapping[str, float],
    ) -> Reading | None:
        values: dict[str, float] = {}
        texts: dict[str, str] = {}
        bad: list[str] = []
        bad_texts: list[str] = []
        for answer in answers:
            request = answer.request
            if answer.registers is None or len(answer.registers) < request.count:
                for r in request.registers:
                    (bad_texts if r.type == "string" else bad).append(r.name)
                continue
            decoder = self._decoder(request)
            if answer.raw and isinstance(decoder, BlockDecoder):
                decoded, not_finite = decoder.decode_bytes(answer.raw, answer.registers)
            else:
                decoded, not_finite = decoder.decode(answer.registers)
            values.update(decoded)
            if not_finite or self._not_finite_tags:
                self._note_not_finite(decoded, not_finite)
            bad.extend(not_finite)
            for text_field in self._texts.get(id(request), ()):
                text, reason = text_field.text(answer.registers)
                if text is None:
                    bad_texts.append(text_field.name)
                    reasons = self.bad_text_reasons
                    reasons[reason] = reasons.get(reason, 0) + 1
                else:
                    texts[text_field.name] = text
        quality: dict[str, Quality] = dict.fromkeys(values, "good")
        self.all_good = not bad and not bad_texts
        for name in bad:
            if name in last_good:
                values[name] = last_good[name]
                quality[name] = "bad"
            else:
                values.pop(name, None)
                quality.pop(name, None)
        if texts or bad_texts:
            self.last_texts.update(texts)
            quality.update(dict.fromkeys(texts, "good"))
            for name in bad_texts:
                if name in self.last_texts:
                    texts[name] = self.last_texts[name]
                    quality[name] = "bad"
        if not values and not texts:
            return None
        return self.reading(values, quality, ts_ms=ts_ms, seq=seq, texts=texts)

    def _note_not_finite(self, decoded: Mapping[str, float], not_finite: Sequence[str]) -> None:
        """Count the values that are not finite; log each tag that turns so, or back."""
        self.not_finite_values += len(not_finite)
        mid = self.device.machine_id
        for name in not_finite:
            if name not in self._not_finite_tags:
                self._not_finite_tags.add(name)
                logger.warning(
                    "device %s: tag %s is %r after scale and offset; published as bad "
                    "(check the register's type, scale and offset)",
                    mid,
                    name,
                    decoded[name],
                )
        for name in self._not_finite_tags.intersection(decoded).difference(not_finite):
            self._not_finite_tags.discard(name)
            logger.info("device %s: tag %s is finite again", mid, name)

    def reading(
        self,
        values: dict[str, float],
        quality: dict[str, Quality],
        *,
        ts_ms: int,
        seq: int,
        texts: dict[str, str] | None = None,
    ) -> Reading:
        device = self.device
        return Reading(
            machine_id=device.machine_id,
            ts_ms=ts_ms,
            values=values,
            quality=quality,
            seq=seq,
            source=self._source,
            plant=device.plant,
            line=device.line,
            texts=texts or {},
        )


def comm_loss_reading(
    device: Device, last_good: Mapping[str, float], names: Iterable[str], *, ts_ms: int, seq: int
) -> Reading | None:
    """The last good values of ``names`` marked ``comm_loss``; ``None`` if there are none."""
    return last_good_reading(device, last_good, names, "comm_loss", ts_ms=ts_ms, seq=seq)


def last_good_reading(
    device: Device,
    last_good: Mapping[str, float],
    names: Iterable[str],
    quality: Quality,
    *,
    ts_ms: int,
    seq: int,
) -> Reading | None:
    """The last good values of ``names`` marked ``quality``; ``None`` if there are none."""
    values = {n: last_good[n] for n in names if n in last_good}
    if not values:
        return None
    qualities: dict[str, Quality] = dict.fromkeys(values, quality)
    return ScanAssembler(device).reading(values, qualities, ts_ms=ts_ms, seq=seq)


def _field_spec(r: Register) -> FieldSpec:
    """What the block decoder needs of a tag."""
    return FieldSpec(r.name, r.address, r.type, r.byte_order, r.scale, r.offset, r.bit, r.length)
