"""Entry points refuse bad configuration with one line on stderr and exit code 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.__main__ import main as connector_main
from connectors.simulator.__main__ import main as simulator_main

CASES = Path(__file__).parent / "devices_cases"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)


def test_connector_with_bad_devices_file_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = CASES / "bad_type" / "devices.yaml"
    monkeypatch.setenv("MILLSTREAM_CONNECTOR_DEVICES_FILE", str(path))
    assert connector_main() == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {path}: device 42: registers[1].type: must be one of bit, float32, float64, "
        "int16, int32, int64, string, uint16, uint32, uint64 (got 'double') "
        "(register vibration_mm_s)\n"
    )


def test_connector_with_missing_devices_file_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MILLSTREAM_CONNECTOR_DEVICES_FILE", str(tmp_path / "devices.yaml"))
    assert connector_main() == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'devices.yaml'}: cannot read the devices file "
        "(No such file or directory)\n"
    )


def test_connector_with_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MILLSTREAM_CONNECTOR_LINGER_MS", "soon")
    assert connector_main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MILLSTREAM_CONNECTOR_LINGER_MS: ")
    assert err.count("\n") == 1


def test_simulator_with_bad_devices_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    path = CASES / "overlapping_registers" / "devices.yaml"
    assert simulator_main(["--devices", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}: device 42: registers[1].address: ")


def test_simulator_refuses_a_non_positive_tick(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulator_main(["--devices", "devices.example.yaml", "--tick-s", "0"]) == 2
    assert capsys.readouterr().err == "error: --tick-s must be greater than 0\n"


def test_check_accepts_the_example_file(capsys: pytest.CaptureFixture[str]) -> None:
    example = CASES.parents[3] / "devices.example.yaml"
    assert connector_main(["--config", str(example), "--check"]) == 0
    out = capsys.readouterr().out
    assert "device 42: modbus://127.0.0.1:5020/1" in out
    assert out.endswith(f"{example}: ok, {out.count('device ')} devices\n")


def test_check_refuses_a_bad_file_naming_device_register_and_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = CASES / "bad_word_order" / "devices.yaml"
    assert connector_main(["--config", str(path), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: device 42: registers[0].word_order: ")
    assert err.rstrip().endswith("(register temperature_c)")
