"""The request planner (intervals, tables, limits, workarounds) and report by exception."""

from __future__ import annotations

from connectors.config.devices import Device, Register, parse_devices
from connectors.modbus.deadband import ReportByException
from connectors.modbus.scan import plan_device, plan_requests
from contracts.readings import Reading


def _device(registers: str, workarounds: str = "") -> Device:
    text = f"""
devices:
  - machine_id: 7
    host: h
    poll_interval_s: 1.0
{workarounds}
    registers:
{registers}
"""
    (device,) = parse_devices(text, source="inline.yaml")
    return device


def test_tags_are_grouped_by_interval_then_table() -> None:
    device = _device(
        """      - {name: a_c, address: 0, type: float32}
      - {name: b_c, address: 2, type: float32, poll_interval_s: 0.1}
      - {name: c_c, address: 4, type: float32}
      - {name: run, table: coil, address: 3, type: bit}
      - {name: d_c, table: input, address: 0, type: uint16, poll_interval_s: 0.1}"""
    )
    plan = [(r.interval_s, r.table, r.address, r.count) for r in plan_device(device)]
    assert plan == [
        (0.1, "holding", 2, 2),
        (0.1, "input", 0, 1),
        (1.0, "holding", 0, 2),
        (1.0, "holding", 4, 2),
        (1.0, "coil", 3, 1),
    ]


def test_bits_merge_up_to_2000_per_request() -> None:
    regs = [
        Register.model_validate({"name": f"b{i}", "table": "coil", "address": i, "type": "bit"})
        for i in range(0, 4000, 1)
    ]
    plan = plan_requests(regs)
    assert [(r.address, r.count) for r in plan] == [(0, 2000), (2000, 2000)]


def test_bits_of_one_register_share_one_read() -> None:
    device = _device(
        """      - {name: a, address: 5, type: bit, bit: 0}
      - {name: b, address: 5, type: bit, bit: 7}
      - {name: c, address: 6, type: uint16}"""
    )
    (request,) = plan_device(device)
    assert (request.address, request.count) == (5, 2)


def test_workarounds_limit_and_split_requests() -> None:
    tags = "\n".join(
        f"      - {{name: t{i}_c, address: {2 * i}, type: float32}}" for i in range(10)
    )
    small = _device(tags, "    workarounds: {max_registers_per_request: 8}")
    assert [r.count for r in plan_device(small)] == [8, 8, 4]
    single = _device(tags, "    workarounds: {one_request_per_register: true}")
    assert [r.count for r in plan_device(single)] == [2] * 10


def _reading(ts_ms: int, value: float, quality: str = "good") -> Reading:
    return Reading(
        machine_id="7",
        ts_ms=ts_ms,
        values={"level_pct": value, "other_c": 1.0},
        quality={"level_pct": quality, "other_c": "good"},  # type: ignore[dict-item]
    )


def test_deadband_reports_moves_quality_changes_and_heartbeats() -> None:
    reg = Register.model_validate(
        {"name": "level_pct", "address": 0, "type": "float32", "deadband": 1.0, "heartbeat_s": 10}
    )
    rbe = ReportByException([reg])
    kept = []
    for ts_ms, value, quality in [
        (0, 50.0, "good"),  # first value: reported
        (1_000, 50.5, "good"),  # moved less than 1.0: left out
        (2_000, 51.2, "good"),  # moved 1.2 since last report: reported
        (3_000, 51.2, "bad"),  # quality changed: reported
        (4_000, 51.3, "bad"),  # left out
        (13_500, 51.3, "bad"),  # heartbeat (10 s since 3 s): reported
    ]:
        out = rbe.filter(_reading(ts_ms, value, quality))
        assert out is not None and out.values["other_c"] == 1.0
        kept.append("level_pct" in out.values)
    assert kept == [True, False, True, True, False, True]
