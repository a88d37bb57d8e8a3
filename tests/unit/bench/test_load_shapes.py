"""The end-to-end benchmarks' machines and baseline carry the same tag count; growth names
the stage that held each step back."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench import load
from bench.scenarios.growth import limiting_stage
from connectors.config.devices import load_devices
from connectors.modbus.scan import plan_device


def test_machines_of_thirty_tags_read_their_floats_in_one_block(tmp_path: Path) -> None:
    path = load.devices_file(
        tmp_path / "d.yaml", ["m1", "m2"], port=5020, poll_interval_s=1, tags=30
    )
    for device in load_devices(path):
        assert len(device.registers) == 30
        requests = plan_device(device)
        inputs = [r for r in requests if r.table == "input"]
        assert [(r.address, r.count, len(r.registers)) for r in inputs] == [(0, 44, 22)]
    example = load.devices_file(tmp_path / "e.yaml", ["m1"], port=5020, poll_interval_s=1)
    assert len(load_devices(example)[0].registers) == load.example_tags()


def test_the_bare_stages_carry_as_many_values_as_the_machines() -> None:
    ((_, value),) = load.bare_records("t", 1, 0, tags=30)
    assert len(orjson.loads(value)["values"]) == 30
    (line,) = load.bare_lines("t", 1, 0, tags=30)
    assert len(line.split(" ")[1].split(",")) == 30


def test_growth_names_the_side_that_fell_further_short() -> None:
    cpu = {"simulator": 6.0, "connector": 14.0, "pipeline": 13.0, "kafka": 9.0}
    step = {"offered_readings_s": 640.0, "produced_readings_s": 300.0, "stored_readings_s": 61.0}
    assert limiting_stage(step, cpu) == "pipeline (13% of a core)"
    step.update(produced_readings_s=100.0, stored_readings_s=98.0)
    assert limiting_stage(step, cpu) == "connector (14% of a core)"
    step.update(produced_readings_s=640.0, stored_readings_s=630.0)
    assert limiting_stage(step, cpu) == "none (kept up)"
