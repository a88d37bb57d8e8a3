"""--shard i/n: every device in exactly one shard, stably; bad specs refused by name."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
import yaml

from connectors.__main__ import main as connector_main
from connectors.config.devices import load_devices
from connectors.config.sharding import Shard, parse_shard, shard_devices, shard_of
from contracts.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)


def _devices_file(tmp_path: Path, count: int) -> Path:
    example = yaml.safe_load((REPO / "devices.example.yaml").read_text())["devices"][0]
    devices = []
    for unit in range(1, count + 1):
        d = dict(example)
        d.update(machine_id=f"m{unit:03d}", device_id=unit, port=5020)
        devices.append(d)
    path = tmp_path / "devices.yaml"
    path.write_text(yaml.safe_dump({"devices": devices}, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("text", "expected"), [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4)), (" 0/1024 ", Shard(0, 1024))]
)
def test_parse_shard(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4/4", "--shard: the shard index must be 0 to 3 (got 4)"),
        ("0/0", "--shard: the shard count must be 1 to 1024 (got 0)"),
        ("1", "--shard: must be i/n, e.g. 0/4 (got '1')"),
        ("-1/4", "--shard: must be i/n, e.g. 0/4 (got '-1/4')"),
        ("a/b", "--shard: must be i/n, e.g. 0/4 (got 'a/b')"),
    ],
)
def test_bad_shard_is_refused_with_its_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_shard(text)
    assert str(info.value) == message


def test_the_hash_is_crc32_of_the_machine_id() -> None:
    # A stable hash: the same in every process and Python version (hash() is salted).
    assert shard_of("42", 4) == zlib.crc32(b"42") % 4
    assert [shard_of(f"m{i}", 3) for i in range(6)] == [
        zlib.crc32(f"m{i}".encode()) % 3 for i in range(6)
    ]


def test_every_device_is_in_exactly_one_shard(tmp_path: Path) -> None:
    devices = load_devices(_devices_file(tmp_path, 60))
    for count in (1, 2, 3, 7):
        shards = [shard_devices(devices, Shard(i, count)) for i in range(count)]
        ids = [d.machine_id for shard in shards for d in shard]
        assert sorted(ids) == sorted(d.machine_id for d in devices)
        assert all(shards), f"an empty shard of {count} for 60 devices"


def test_check_with_shard_prints_its_devices_and_the_spread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _devices_file(tmp_path, 20)
    assert connector_main(["--config", str(path), "--check", "--shard", "1/3"]) == 0
    out = capsys.readouterr().out.splitlines()
    mine = [f"m{u:03d}" for u in range(1, 21) if shard_of(f"m{u:03d}", 3) == 1]
    assert [line.split(":")[0] for line in out[:-1]] == [f"device {m}" for m in mine]
    spread = " ".join(
        str(sum(shard_of(f"m{u:03d}", 3) == i for u in range(1, 21))) for i in range(3)
    )
    assert out[-1] == (
        f"{path}: ok, shard 1/3: {len(mine)} of 20 devices (devices per shard: {spread})"
    )


def test_bad_shard_on_the_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert connector_main(["--shard", "2/2"]) == 2
    assert capsys.readouterr().err == "error: --shard: the shard index must be 0 to 1 (got 2)\n"


def test_bad_shard_in_the_environment_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MILLSTREAM_CONNECTOR_DEVICES_FILE", str(_devices_file(tmp_path, 4)))
    monkeypatch.setenv("MILLSTREAM_CONNECTOR_SHARD", "5/3")
    assert connector_main(["--check"]) == 2
    assert capsys.readouterr().err == (
        "error: MILLSTREAM_CONNECTOR_SHARD: the shard index must be 0 to 2 (got 5)\n"
    )


def test_a_shard_without_devices_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _devices_file(tmp_path, 1)
    empty = next(i for i in range(2) if shard_of("m001", 2) != i)
    assert connector_main(["--config", str(path), "--check", "--shard", f"{empty}/2"]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: shard {empty}/2 has none of the file's 1 devices; use fewer shards\n"
    )
