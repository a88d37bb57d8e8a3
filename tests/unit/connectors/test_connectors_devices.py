"""The devices file: the shipped example loads, and every bad file fails with its golden message.

Each folder under ``devices_cases/`` holds a ``devices.yaml`` and the ``expected_error.txt``
that follows ``<path>: `` in the :class:`ConfigError` it must raise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config.devices import load_devices, parse_devices
from contracts.errors import ConfigError
from contracts.machines import MachineInfo, decode_machine

REPO = Path(__file__).resolve().parents[3]
CASES = Path(__file__).parent / "devices_cases"


def test_example_file_describes_machine_42() -> None:
    (device,) = load_devices(REPO / "devices.example.yaml")
    assert device.machine_id == "42"
    assert device.name == "CNC Lathe - Haas ST-20"
    assert (device.plant, device.line, device.location) == ("Hall B", "Line 3", "Hall B, Line 3")
    assert (device.host, device.port, device.device_id) == ("127.0.0.1", 5020, 1)
    assert device.source == "modbus://127.0.0.1:5020/1"
    units = {r.name: r.unit for r in device.registers}
    assert units == {
        "temperature_c": "°C",
        "vibration_mm_s": "mm/s",
        "power_kw": "kW",
        "spindle_rpm": "rpm",
        "oil_pressure_bar": "bar",
        "feed_override_pct": "%",
        "running": "",
        "door_open": "",
    }
    tables = {r.name: (r.table, r.type) for r in device.registers}
    assert tables["running"] == ("coil", "bit")
    assert tables["door_open"] == ("discrete", "bit")


def test_machine_info_carries_registry_fields_and_sensors() -> None:
    (device,) = load_devices(REPO / "devices.example.yaml")
    info = device.machine_info()
    assert isinstance(info, MachineInfo)
    assert decode_machine(info.encode()) == info
    assert info.key() == b"42"
    assert [(s.name, s.unit) for s in info.sensors][:2] == [
        ("temperature_c", "°C"),
        ("vibration_mm_s", "mm/s"),
    ]


def test_defaults_and_string_machine_ids() -> None:
    text = """
devices:
  - machine_id: press-7
    host: plc.local
    registers:
      - {name: pressure_bar, address: 10, type: int16, scale: 0.01, table: input}
"""
    (device,) = parse_devices(text, source="inline.yaml")
    assert device.machine_id == "press-7"
    assert (device.port, device.device_id) == (502, 1)
    assert (device.poll_interval_s, device.timeout_s, device.max_gap_registers) == (1.0, 1.0, 0)
    (reg,) = device.registers
    assert (reg.table, reg.byte_order, reg.scale, reg.offset, reg.unit) == (
        "input",
        "ABCD",
        0.01,
        0.0,
        "",
    )
    assert (reg.count, reg.end) == (1, 11)


def test_same_address_in_different_tables_is_not_an_overlap() -> None:
    text = """
devices:
  - machine_id: 1
    host: h
    registers:
      - {name: a_c, address: 0, type: float32}
      - {name: b_c, address: 0, type: float32, table: input}
"""
    (device,) = parse_devices(text, source="inline.yaml")
    assert [r.table for r in device.registers] == ["holding", "input"]


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_devices(missing)
    assert str(info.value) == f"{missing}: cannot read the devices file (No such file or directory)"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_bad_device_files(case: str) -> None:
    path = CASES / case / "devices.yaml"
    expected = (CASES / case / "expected_error.txt").read_text(encoding="utf-8").strip()
    with pytest.raises(ConfigError) as info:
        load_devices(path)
    assert str(info.value) == f"{path}: {expected}"


@pytest.mark.parametrize("name", ["temp\n", "temp\r\n", "\ntemp", "Temp", "temp-c", "time"])
def test_sensor_names_follow_the_shared_pattern_in_full(name: str) -> None:
    # A pattern anchored with ^...$ and checked with .match lets "temp\n" through; the
    # shared check (contracts.patterns, fullmatch) refuses it.
    text = f"""
devices:
  - machine_id: 42
    host: 127.0.0.1
    registers:
      - {{name: {name!r}, address: 0}}
"""
    # A YAML single-quoted scalar cannot hold a newline; write it double-quoted.
    text = text.replace(repr(name), '"' + name.encode("unicode_escape").decode() + '"')
    with pytest.raises(ConfigError) as caught:
        parse_devices(text, source="devices.yaml")
    message = str(caught.value)
    assert message.startswith("devices.yaml: device 42: registers[0].name: "), message
    assert repr(name) in message, message


def test_a_valid_sensor_name_is_kept_as_written() -> None:
    text = """
devices:
  - machine_id: 42
    host: 127.0.0.1
    registers:
      - {name: "temp", address: 0}
"""
    (device,) = parse_devices(text, source="devices.yaml")
    assert [r.name for r in device.registers] == ["temp"]
