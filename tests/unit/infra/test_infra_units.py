"""Pure parts of infra: broker config, tool checks, build steps, the admin key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rich.console import Console

from infra import demo, processes, tools
from infra.errors import MissingToolError, ProvisionError, ServerStartError
from infra.influxdb_dist import influxdb_version
from infra.kafka_dist import kafka_version
from infra.kafka_server import server_properties
from infra.progress import run_step


def test_broker_config_is_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    text = server_properties(host="127.0.0.1", port=9092, controller_port=9093, log_dir=tmp_path)
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["log.dirs"] == str(tmp_path.resolve())
    assert props["auto.create.topics.enable"] == "false"


def test_pinned_versions() -> None:
    assert kafka_version().startswith("3.9.")
    assert influxdb_version().startswith("2.7.")


def test_missing_tool_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingToolError, match=r"'mvn' was not found on PATH: install Maven"):
        tools.require("mvn")


def test_failed_build_step_quotes_its_log(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    script = "print('compiling'); print('boom: no linker'); raise SystemExit(3)"
    argv = [sys.executable, "-c", script]
    with pytest.raises(ProvisionError, match=r"(?s)exit 3.*boom: no linker"):
        run_step(argv, title="Building", estimate="now", log_path=log, console=Console(quiet=True))
    assert "compiling" in log.read_text()


def test_admin_key_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILLSTREAM_API_ADMIN_API_KEY", "msk_from_env")
    assert demo.admin_key(tmp_path) == "msk_from_env"


def test_admin_key_honours_the_old_variable_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MILLSTREAM_API_ADMIN_API_KEY", raising=False)
    monkeypatch.setenv("MILLSTREAM_ADMIN_API_KEY", "msk_from_old_name")
    assert demo.admin_key(tmp_path) == "msk_from_old_name"


def test_admin_key_is_made_once_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MILLSTREAM_API_ADMIN_API_KEY", raising=False)
    monkeypatch.delenv("MILLSTREAM_ADMIN_API_KEY", raising=False)
    first = demo.admin_key(tmp_path)
    assert first.startswith("msk_") and len(first) > 20
    assert demo.admin_key(tmp_path) == first
    assert (tmp_path / "admin-api-key").stat().st_mode & 0o077 == 0


def test_wait_quotes_the_log_of_a_process_that_died(tmp_path: Path) -> None:
    child = processes.start(
        [sys.executable, "-c", "print('port already in use')"], name="probe", run_dir=tmp_path
    )
    child.wait(timeout=10)
    with pytest.raises(ServerStartError, match=r"(?s)probe exited.*port already in use"):
        processes.wait_until_healthy(
            lambda: False, run_dir=tmp_path, names=["probe"], what="probe", timeout_s=5
        )


def test_wait_gives_up_after_its_timeout(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match=r"never healthy within 0s"):
        processes.wait_until_healthy(
            lambda: False, run_dir=tmp_path, names=[], what="never healthy", timeout_s=0.2
        )


def test_the_influx_cli_version_and_path_come_from_its_build_module(tmp_path: Path) -> None:
    from infra.influx_cli_dist import influx_cli_path, influx_cli_version

    version = influx_cli_version()
    assert version.startswith("2.")
    assert influx_cli_path(tmp_path) == tmp_path / f"influx-cli-{version}" / "influx"
