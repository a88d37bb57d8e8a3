"""How the simulator lays a device's registers out, without a network."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config.devices import load_devices, parse_devices
from connectors.config.register_types import ByteOrder
from connectors.modbus.decoding import decode, encode
from connectors.simulator.layout import block_values, keeps_client_writes, table_blocks
from connectors.simulator.model import extra_signal
from connectors.simulator.server import Endpoint, SimulatorServer
from contracts.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]

MIXED = """
devices:
  - machine_id: 9
    host: 127.0.0.1
    registers:
      - {name: temperature_c, address: 10, type: float32, word_order: little}
      - {name: spindle_rpm, address: 20, type: uint16}
      - {name: level_pct, address: 5, type: int16, table: input, scale: 0.1}
"""


def test_one_block_per_table_spanning_its_registers() -> None:
    (device,) = parse_devices(MIXED, source="inline.yaml")
    blocks = table_blocks(device)
    assert [(b.table, b.address, b.count) for b in blocks] == [("holding", 10, 11), ("input", 5, 1)]


def test_block_values_encode_each_register_in_place() -> None:
    (device,) = parse_devices(MIXED, source="inline.yaml")
    holding, inputs = table_blocks(device)
    regs = block_values(holding, {"temperature_c": 71.25, "spindle_rpm": 2400.4}, now_s=0.0)
    assert len(regs) == 11
    assert decode(regs[0:2], data_type="float32", byte_order="CDAB") == 71.25
    assert regs[2:10] == [0] * 8
    assert regs[10] == 2400
    level = block_values(inputs, {}, now_s=12.0)
    assert decode(level, data_type="int16", scale=0.1) == round(
        extra_signal("level_pct", now_s=12.0), 1
    )


def test_values_beyond_the_type_are_clamped() -> None:
    (device,) = parse_devices(MIXED, source="inline.yaml")
    holding, _ = table_blocks(device)
    regs = block_values(holding, {"temperature_c": 1.0, "spindle_rpm": -50.0}, now_s=0.0)
    assert regs[10] == 0


# MIXED's device, with float32 input registers of three byte orders and scales instead.
FLOATS = MIXED.split("    registers:")[0] + (
    "    registers:\n"
    "      - {name: a_c, address: 0, type: float32, table: input}\n"
    "      - {name: b_c, address: 2, type: float32, table: input, byte_order: DCBA}\n"
    "      - {name: c_c, address: 4, type: float32, table: input, scale: 0.5}\n"
)


@pytest.mark.parametrize("value", [0.0, -1.5, 71.25, 1e-40, 0.1, 3.5e38, -3.5e38, 1e300])
def test_float32_registers_hold_what_the_generic_encoder_writes(value: float) -> None:
    (device,) = parse_devices(FLOATS, source="inline.yaml")
    (inputs,) = table_blocks(device)
    regs = block_values(inputs, {"a_c": value, "b_c": value, "c_c": value}, now_s=0.0)
    sides: tuple[tuple[ByteOrder, float], ...] = (("ABCD", 1.0), ("DCBA", 1.0), ("ABCD", 0.5))
    for i, (order, scale) in enumerate(sides):
        expected = encode(value, data_type="float32", byte_order=order, scale=scale, clamp=True)
        assert regs[2 * i : 2 * i + 2] == expected


def test_devices_are_grouped_by_address_and_port_override() -> None:
    (example,) = load_devices(REPO / "devices.example.yaml")
    other = example.model_copy(update={"machine_id": "43", "port": 5021, "device_id": 2})
    assert SimulatorServer([example, other]).endpoints == [
        Endpoint("tcp", "127.0.0.1", 5020),
        Endpoint("tcp", "127.0.0.1", 5021),
    ]
    assert SimulatorServer([example, other], port_override=15020).endpoints == [
        Endpoint("tcp", "127.0.0.1", 15020)
    ]
    gateway = other.model_copy(update={"protocol": "rtu_over_tcp"})
    serial = other.model_copy(
        update={"machine_id": "44", "protocol": "rtu", "serial_port": "/dev/ttyUSB0"}
    )
    served = SimulatorServer(
        [example, gateway, serial], serial_ports={"/dev/ttyUSB0": "/dev/pts/9"}
    ).endpoints
    assert served == [
        Endpoint("tcp", "127.0.0.1", 5020),
        Endpoint("rtu_over_tcp", "127.0.0.1", 5021),
        Endpoint("rtu", "/dev/pts/9", 0),
    ]
    assert str(served[2]) == "/dev/pts/9" and str(served[1]) == "127.0.0.1:5021"


def test_port_override_refuses_two_devices_on_one_unit_id() -> None:
    (example,) = load_devices(REPO / "devices.example.yaml")
    other = example.model_copy(update={"machine_id": "43", "port": 5021})
    with pytest.raises(ConfigError, match="device 43: device_id: 1 is also used by device 42"):
        SimulatorServer([example, other], port_override=15020)


def test_read_only_blocks_of_unmodelled_tags_are_computed_once_for_all_devices(
    tmp_path: Path,
) -> None:
    from bench.load import devices_file
    from connectors.simulator.server import _alike_blocks

    path = devices_file(tmp_path / "d.yaml", ["m1", "m2"], port=5020, poll_interval_s=1, tags=30)
    one, two = (table_blocks(d) for d in load_devices(path))
    server = SimulatorServer(load_devices(path))
    alike = _alike_blocks([one, two], [server.model("m1"), server.model("m2")])
    # input: the float32 block of extra tags; holding, coil and discrete: the lathe's
    inputs = [next(b for b in blocks if b.table == "input") for blocks in (one, two)]
    assert alike == {id(inputs[0]): id(inputs[0]), id(inputs[1]): id(inputs[0])}
    assert block_values(inputs[0], {}, now_s=7.0) == block_values(inputs[1], {}, now_s=7.0)


def test_only_blocks_a_client_may_have_written_in_are_read_back() -> None:
    (lathe,) = load_devices(REPO / "devices.example.yaml")
    run = 20  # the holding register the lathe's stop and start commands write
    kept = {b.table: keeps_client_writes(b, run) for b in table_blocks(lathe)}
    # holding: a writable feed override, the run register, unused registers; the coil is
    # the model's running state, the discrete input and input tables clients cannot write
    assert kept == {"holding": True, "coil": False, "discrete": False}
    (device,) = parse_devices(MIXED, source="inline.yaml")
    holding, inputs = table_blocks(device)
    assert keeps_client_writes(holding)  # registers 12-19 belong to no tag
    assert not keeps_client_writes(inputs)
