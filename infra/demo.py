"""The one-command local stack: servers, device simulator, connector, pipeline worker and API.

Every part runs as its own process, exactly as it would in production; this module only
starts them, waits until the API is ready, prints where everything is and stops it all on
Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

import yaml
from rich.console import Console

from connectors.simulator.factory import factory_devices, write_factory_file
from infra import ports, processes
from infra.demo_maintenance import seed_maintenance
from infra.errors import InfraError
from infra.servers import LocalServers

DEVICES_EXAMPLE = Path(__file__).resolve().parent.parent / "devices.example.yaml"
_SERVICES = ("simulator", "connector", "pipeline", "api")


def admin_key(run_dir: Path) -> str:
    """``MILLSTREAM_API_ADMIN_API_KEY`` (or its old name ``MILLSTREAM_ADMIN_API_KEY``) if set,
    else the key kept in the run directory (made once)."""
    configured = (
        os.environ.get("MILLSTREAM_API_ADMIN_API_KEY")
        or os.environ.get("MILLSTREAM_ADMIN_API_KEY", "")
    ).strip()
    if configured:
        return configured
    path = run_dir / "admin-api-key"
    if path.exists():
        return path.read_text().strip()
    key = "msk_" + secrets.token_urlsafe(24)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def _devices_file(run_dir: Path, *, host: str) -> Path:
    """The simulated factory: ``MILLSTREAM_DEMO_PLANTS`` plants (default 3) of
    ``MILLSTREAM_DEMO_MACHINES`` machines (default 10), machine 42 first, one Modbus port
    each, all distinct; ``MILLSTREAM_DEMO_PLANTS=0`` serves only the example file's lathe."""
    plants = int(os.environ.get("MILLSTREAM_DEMO_PLANTS", "3"))
    machines = int(os.environ.get("MILLSTREAM_DEMO_MACHINES", "10"))
    path = run_dir / "devices.yaml"
    if plants <= 0:
        [modbus_port] = ports.free_ports(host, 1)
        doc = yaml.safe_load(DEVICES_EXAMPLE.read_text())
        for device in doc["devices"]:
            device["host"] = host
            device["port"] = modbus_port
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path
    machine_ports = ports.free_ports(host, plants * machines)
    entries = factory_devices(plants=plants, machines=machines, host=host, ports=machine_ports)
    return write_factory_file(path, entries)


def _api_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop_services(run_dir: Path, children: dict[str, subprocess.Popen[bytes]]) -> None:
    for name in reversed(_SERVICES):
        processes.stop(run_dir, name, timeout_s=15)
    for child in children.values():
        child.wait(timeout=10)
    children.clear()


def run_demo(
    servers: LocalServers,
    *,
    console: Console,
    api_port: int | None,
    overheat_every_s: float,
) -> int:
    """Run the whole stack until interrupted; return the exit code."""
    host = "127.0.0.1"
    port = api_port or int(os.environ.get("MILLSTREAM_API_PORT", "8080"))
    run_dir = servers.run_dir
    if not ports.is_free(host, port):
        raise InfraError(
            f"port {port} is in use: stop what holds it, or choose another port with "
            f"MILLSTREAM_API_PORT=8081 make run"
        )
    conn = servers.up()
    children: dict[str, subprocess.Popen[bytes]] = {}
    _stop_services(run_dir, children)  # leftovers of an earlier run that was killed
    key = admin_key(run_dir)
    devices = _devices_file(run_dir, host=host)
    # The user's own MILLSTREAM_* settings (an alarm limit, say) reach every service;
    # where the servers are and the API's address come from this stack.
    env = dict(os.environ)
    env.update(conn.env())
    env.update(
        PYTHONUNBUFFERED="1",
        MILLSTREAM_API_ADMIN_API_KEY=key,
        MILLSTREAM_API_HOST=host,
        MILLSTREAM_API_PORT=str(port),
        MILLSTREAM_CONNECTOR_DEVICES_FILE=str(devices),
        MILLSTREAM_PIPELINE_DATA_DIR=str(run_dir / "pipeline"),
    )
    commands = _service_commands(devices, overheat_every_s=overheat_every_s)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Stop at once, even while waiting for start-up; the clean-up below runs only once.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for name in _SERVICES:
            children[name] = processes.start(
                commands[name], name=name, run_dir=run_dir, env=env, die_with_parent=True
            )
        console.print("Starting the simulator, connector, pipeline worker and API ...")
        ready_url = f"http://{host}:{port}/ready"
        processes.wait_until_healthy(
            lambda: _api_ready(ready_url),
            run_dir=run_dir,
            names=_SERVICES,
            what=f"the API was not ready at {ready_url}",
            timeout_s=120,
            interval_s=0.5,
        )
        seed_maintenance(f"http://{host}:{port}", key)
        _print_banner(console, host=host, port=port, key=key, run_dir=run_dir)
        while True:
            for name in _SERVICES:
                if processes.read_pid(run_dir, name) is None:
                    log = processes.log_file(run_dir, name)
                    console.print(f"[red]{name} stopped[/red]; last lines of {log}:")
                    console.print(processes.tail(log), markup=False)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        console.print("Stopping Millstream ...")
        _stop_services(run_dir, children)
        servers.down()
        console.print("Stopped.")


def _service_commands(devices: Path, *, overheat_every_s: float) -> dict[str, list[str]]:
    """The command line of each service the demo runs, by name."""
    py = sys.executable
    return {
        "simulator": [
            py,
            "-m",
            "connectors.simulator",
            "--devices",
            str(devices),
            "--overheat-every-s",
            str(overheat_every_s),
        ],
        "connector": [py, "-m", "connectors"],
        "pipeline": [py, "-m", "pipeline", "worker"],
        "api": [py, "-m", "api"],
    }


def _print_banner(console: Console, *, host: str, port: int, key: str, run_dir: Path) -> None:
    base = f"http://{host}:{port}"
    lines = [
        "",
        "Millstream is running.",
        f"  Dashboard:  {base}/#api_key={key}",
        f"  API:        {base}/api",
        f"  API docs:   {base}/docs",
        f"  WebSocket:  ws://{host}:{port}/live?api_key={key}",
        f"  Admin key:  {key}",
        f"  Logs:       {run_dir / 'logs'}",
        "",
        "Try:",
        f'  curl -H "X-API-Key: {key}" {base}/api/machines/42/readings',
        "",
        "Press Ctrl-C to stop everything.",
    ]
    # stdout, so scripts can read the addresses and the key.
    print("\n".join(lines), flush=True)
