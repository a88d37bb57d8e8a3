"""Ports for the demo's simulated machines are distinct: ``make run`` never tells two
machines to serve on one port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import demo
from infra.ports import ephemeral_from, free_port, free_ports, is_free

STARTS = 300


def test_the_demo_never_gives_two_machines_one_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MILLSTREAM_DEMO_PLANTS", "3")
    monkeypatch.setenv("MILLSTREAM_DEMO_MACHINES", "10")
    path = demo._devices_file(tmp_path, host="127.0.0.1")
    written = yaml.safe_load(path.read_text())["devices"]
    assert len({d["port"] for d in written}) == len(written) == 30
    # The rest skip writing YAML (the slow part); the ports are picked as for the file.
    kept: list[list[dict[str, Any]]] = []
    monkeypatch.setattr(demo, "write_factory_file", lambda p, entries: kept.append(entries) or p)
    for start in range(STARTS):
        demo._devices_file(tmp_path, host="127.0.0.1")
        ports = [d["port"] for d in kept[-1]]
        assert len(ports) == 30
        assert len(set(ports)) == 30, f"start {start}: a port given twice in {sorted(ports)}"


def test_free_ports_are_distinct_and_free_once_returned() -> None:
    ports = free_ports("127.0.0.1", 64)
    assert len(set(ports)) == 64
    assert all(is_free("127.0.0.1", port) for port in ports)
    assert is_free("127.0.0.1", free_port())


def test_free_ports_come_from_below_the_ephemeral_range() -> None:
    """An outgoing connection's source port is never one of them."""
    ports = free_ports("127.0.0.1", 64)
    assert all(10_000 <= port < ephemeral_from() for port in ports)
