"""`make run`'s simulated factory, started again and again: every start gives its 30 machines
distinct free ports, the simulator serves every one of them and the connector's check takes
the devices file (two machines on one port once failed a start with "is already polled")."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from pymodbus.client import ModbusTcpClient

from infra import demo

STARTS = 5


def _serves_every_port(ports: list[int], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    waiting = set(ports)
    while waiting and time.monotonic() < deadline:
        assert proc.poll() is None, f"the simulator exited:\n{log.read_text()}"
        for port in sorted(waiting):
            client = ModbusTcpClient("127.0.0.1", port=port, retries=0, timeout=1)
            if client.connect():
                waiting.discard(port)
            client.close()
        time.sleep(0.2)
    assert not waiting, f"ports not served: {sorted(waiting)}\n{log.read_text()}"


@pytest.mark.parametrize("start", range(STARTS))
def test_each_start_of_the_demo_factory_serves_distinct_ports(start: int, tmp_path: Path) -> None:
    devices = demo._devices_file(tmp_path, host="127.0.0.1")
    ports = [d["port"] for d in yaml.safe_load(devices.read_text())["devices"]]
    assert len(ports) == 30
    assert len(set(ports)) == len(ports), f"start {start}: a port given twice: {sorted(ports)}"

    check = subprocess.run(
        [sys.executable, "-m", "connectors", "--config", str(devices), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    log = tmp_path / "simulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "connectors.simulator", "--devices", str(devices)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _serves_every_port(ports, proc, log)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
