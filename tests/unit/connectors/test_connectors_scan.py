"""Request planning and reading assembly, without a network."""

from __future__ import annotations

from pathlib import Path

from connectors.config.devices import Device, Register, load_devices, parse_devices
from connectors.modbus.decoding import encode
from connectors.modbus.scan import BlockAnswer, ReadRequest, ScanAssembler, plan_requests
from contracts.readings import decode_reading

REPO = Path(__file__).resolve().parents[3]
TS_MS = 1_766_241_000_123


def _example() -> Device:
    (device,) = load_devices(REPO / "devices.example.yaml")
    return device


def _reg(name: str, address: int, data_type: str = "float32", table: str = "holding") -> Register:
    return Register.model_validate(
        {"name": name, "address": address, "type": data_type, "table": table}
    )


def _answer(request: ReadRequest, values: dict[str, float]) -> BlockAnswer:
    regs = [0] * request.count
    for reg in request.registers:
        start = reg.address - request.address
        regs[start : start + reg.count] = encode(
            values[reg.name],
            data_type=reg.type,
            byte_order=reg.byte_order,
            scale=reg.scale,
            offset=reg.offset,
        )
    return BlockAnswer(request=request, registers=regs)


def test_example_device_is_read_in_one_request() -> None:
    device = _example()
    request, coils, inputs = plan_requests(device.registers)
    assert (request.table, request.address, request.count) == ("holding", 0, 10)
    assert [r.name for r in request.registers] == [
        r.name for r in device.registers if r.table == "holding"
    ]
    assert (coils.table, coils.address, coils.count) == ("coil", 0, 1)
    assert (inputs.table, inputs.address, inputs.count) == ("discrete", 0, 1)


def test_gaps_split_requests_unless_allowed() -> None:
    regs = [_reg("a_c", 0), _reg("b_c", 10, "uint16"), _reg("c_c", 11, "uint16")]
    split = plan_requests(regs)
    assert [(r.address, r.count) for r in split] == [(0, 2), (10, 2)]
    merged = plan_requests(regs, max_gap_registers=8)
    assert [(r.address, r.count) for r in merged] == [(0, 12)]


def test_tables_are_never_mixed_and_holding_comes_first() -> None:
    regs = [_reg("i_c", 0, table="input"), _reg("h_c", 2), _reg("j_c", 2, table="input")]
    plan = plan_requests(regs)
    assert [(r.table, r.address, r.count) for r in plan] == [("holding", 2, 2), ("input", 0, 4)]


def test_requests_stay_within_the_modbus_limit() -> None:
    regs = [_reg(f"s{i}_c", 2 * i) for i in range(70)]
    plan = plan_requests(regs)
    assert [(r.address, r.count) for r in plan] == [(0, 124), (124, 16)]
    assert sum(len(r.registers) for r in plan) == 70


def test_unsorted_registers_are_planned_by_address() -> None:
    regs = [_reg("b_c", 4), _reg("a_c", 0), _reg("m_c", 2)]
    (request,) = plan_requests(regs)
    assert [r.name for r in request.registers] == ["a_c", "m_c", "b_c"]


def test_good_scan_becomes_a_valid_reading() -> None:
    device = _example()
    device = device.model_copy(
        update={"registers": tuple(r for r in device.registers if r.table == "holding")}
    )
    (request,) = plan_requests(device.registers)
    values = {
        "temperature_c": 67.5,
        "vibration_mm_s": 3.25,
        "power_kw": 12.75,
        "spindle_rpm": 2400,
        "oil_pressure_bar": 4.75,
        "feed_override_pct": 100,
    }
    reading = ScanAssembler(device).assemble(
        [_answer(request, values)], ts_ms=TS_MS, seq=7, last_good={}
    )
    assert reading is not None
    assert reading.values == values
    assert list(reading.values) == [r.name for r in device.registers]
    assert set(reading.quality.values()) == {"good"}
    assert (reading.machine_id, reading.ts_ms, reading.seq) == ("42", TS_MS, 7)
    assert reading.source == "modbus://127.0.0.1:5020/1"
    assert (reading.plant, reading.line) == ("Hall B", "Line 3")
    assert decode_reading(reading.encode()) == reading


def _two_block_device() -> Device:
    text = """
devices:
  - machine_id: 7
    host: h
    registers:
      - {name: temperature_c, address: 0, type: float32}
      - {name: level_pct, address: 100, type: uint16, scale: 0.1}
"""
    (device,) = parse_devices(text, source="inline.yaml")
    return device


def test_refused_block_carries_last_good_values_with_bad_quality() -> None:
    device = _two_block_device()
    first, second = plan_requests(device.registers)
    answers = [
        _answer(first, {"temperature_c": 70.5}),
        BlockAnswer(request=second, registers=None, refusal="exception_code=2"),
    ]
    reading = ScanAssembler(device).assemble(
        answers, ts_ms=TS_MS, seq=3, last_good={"level_pct": 55.5}
    )
    assert reading is not None
    assert reading.values == {"temperature_c": 70.5, "level_pct": 55.5}
    assert reading.quality == {"temperature_c": "good", "level_pct": "bad"}
    assert decode_reading(reading.encode()) == reading


def test_refused_value_without_history_is_left_out() -> None:
    device = _two_block_device()
    first, second = plan_requests(device.registers)
    answers = [_answer(first, {"temperature_c": 70.5}), BlockAnswer(second, None, "x")]
    reading = ScanAssembler(device).assemble(answers, ts_ms=TS_MS, seq=1, last_good={})
    assert reading is not None
    assert reading.values == {"temperature_c": 70.5}
    assert reading.quality == {"temperature_c": "good"}


def test_scan_without_any_value_gives_no_reading() -> None:
    device = _two_block_device()
    answers = [BlockAnswer(r, None, "x") for r in plan_requests(device.registers)]
    assert ScanAssembler(device).assemble(answers, ts_ms=TS_MS, seq=1, last_good={}) is None


def test_nan_float_is_bad_quality() -> None:
    device = _two_block_device()
    first, second = plan_requests(device.registers)
    nan_regs = BlockAnswer(request=first, registers=[0x7FC0, 0x0000])
    reading = ScanAssembler(device).assemble(
        [nan_regs, _answer(second, {"level_pct": 12.3})],
        ts_ms=TS_MS,
        seq=1,
        last_good={"temperature_c": 69.0},
    )
    assert reading is not None
    assert reading.values == {"temperature_c": 69.0, "level_pct": 12.3}
    assert reading.quality == {"temperature_c": "bad", "level_pct": "good"}


def test_string_deadband_reports_on_change_and_at_the_heartbeat() -> None:
    from connectors.modbus.deadband import ReportByException
    from contracts.readings import Reading

    (device,) = parse_devices(
        """
devices:
  - machine_id: 42
    host: 127.0.0.1
    registers:
      - {name: temperature_c, address: 0, type: float32}
      - {name: batch_id, address: 2, type: string, length: 2, deadband: 1, heartbeat_s: 5}
""",
        source="test",
    )
    rbe = ReportByException(device.registers)

    def reading(ts_ms: int, batch: str, quality: str = "good") -> Reading:
        return Reading(
            machine_id="42",
            ts_ms=ts_ms,
            values={"temperature_c": 1.0},
            texts={"batch_id": batch},
            quality={"batch_id": quality},  # type: ignore[dict-item]
        )

    assert rbe.filter(reading(0, "B7")) == reading(0, "B7")
    unchanged = rbe.filter(reading(1000, "B7"))
    assert unchanged is not None and unchanged.texts == {} and "batch_id" not in unchanged.quality
    changed = rbe.filter(reading(2000, "B8"))
    assert changed is not None and changed.texts == {"batch_id": "B8"}
    turned_bad = rbe.filter(reading(3000, "B8", "bad"))
    assert turned_bad is not None and turned_bad.texts == {"batch_id": "B8"}
    quiet = rbe.filter(reading(7000, "B8", "bad"))
    assert quiet is not None and quiet.texts == {}
    beat = rbe.filter(reading(8000, "B8", "bad"))
    assert beat is not None and beat.texts == {"batch_id": "B8"}


def test_bad_texts_keep_the_last_text_and_are_counted_by_reason() -> None:
    from connectors.modbus.decoding import encode_string
    from connectors.modbus.scan import ScanAssembler

    (device,) = parse_devices(
        """
devices:
  - machine_id: 42
    host: 127.0.0.1
    registers:
      - {name: temperature_c, address: 0, type: float32}
      - {name: recipe, address: 2, type: string, length: 4}
""",
        source="test",
    )
    (request,) = plan_requests(device.registers)
    assembler = ScanAssembler(device)

    def scan(recipe_regs: list[int], seq: int):  # type: ignore[no-untyped-def]
        regs = encode(61.5, data_type="float32") + recipe_regs
        return assembler.assemble(
            [BlockAnswer(request=request, registers=regs)], ts_ms=TS_MS + seq, seq=seq, last_good={}
        )

    good = scan(encode_string("PA6-GF30", length=4), 1)
    assert good is not None and good.texts == {"recipe": "PA6-GF30"}
    assert decode_reading(good.encode()) == good
    not_utf8 = scan([0xFFFE, 0x4100, 0, 0], 2)
    assert not_utf8 is not None
    assert (not_utf8.texts["recipe"], not_utf8.quality_of("recipe")) == ("PA6-GF30", "bad")
    not_printable = scan([0x4107, 0, 0, 0], 3)
    assert not_printable is not None and not_printable.quality_of("recipe") == "bad"
    assert assembler.bad_text_reasons == {"not UTF-8": 1, "not printable": 1}
    assert not assembler.all_good
