"""The simulated factory: plants x machines, machine 42 kept as the seed describes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config.devices import load_devices
from connectors.simulator.__main__ import main as simulator_main
from connectors.simulator.factory import factory_devices, write_factory_file


def test_three_plants_of_ten_machines_with_the_seed_lathe_first(tmp_path: Path) -> None:
    entries = factory_devices(
        plants=3, machines=10, host="127.0.0.1", ports=list(range(6000, 6030))
    )
    devices = load_devices(write_factory_file(tmp_path / "factory.yaml", entries))
    assert len(devices) == 30
    assert len({d.port for d in devices}) == 30
    assert {d.plant for d in devices} == {"Hall A", "Hall B", "Hall C"}
    lathe = devices[0]
    assert lathe.machine_id == "42"
    assert (lathe.name, lathe.plant, lathe.line, lathe.location) == (
        "CNC Lathe - Haas ST-20",
        "Hall B",
        "Line 3",
        "Hall B, Line 3",
    )
    assert lathe.commands.stop is not None
    assert [d.machine_id for d in devices] == [str(i) for i in range(42, 72)]


def test_factory_arguments_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulator_main(["--plants", "99"]) == 2
    assert "--plants must be between 1 and" in capsys.readouterr().err
    assert simulator_main([]) == 2
    assert "give --devices FILE or --plants N" in capsys.readouterr().err
