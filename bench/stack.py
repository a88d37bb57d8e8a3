"""The benchmark's own local stack and the Millstream services a scenario starts.

The servers run from a run directory of their own (never the developer's ``.millstream``),
on free loopback ports, and are stopped and purged when the run ends. Services are started
with :mod:`infra.processes` exactly like ``make run`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from contracts.settings import CommonSettings
from infra import ports, processes
from infra.servers import Connection, LocalServers
from infra.settings import InfraSettings

HOST = "127.0.0.1"
ADMIN_KEY = "msk_bench_admin_key_0123456789abcdef"


@contextlib.contextmanager
def bench_servers(run_dir: Path, *, console: Console) -> Iterator[Connection]:
    """Kafka and InfluxDB on free ports under ``run_dir``; stopped and purged afterwards."""
    settings = InfraSettings(run_dir=run_dir, kafka_port=0, influx_port=0)
    servers = LocalServers(settings, console=console)
    try:
        yield servers.up()
    finally:
        servers.down(purge=True)


class Services:
    """Millstream processes one scenario started; :meth:`stop_all` stops every one of them."""

    def __init__(self, run_dir: Path, base_env: dict[str, str]) -> None:
        self.run_dir = run_dir
        self._base_env = base_env
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: Sequence[str], **extra_env: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(self._base_env)
        env.update(PYTHONUNBUFFERED="1", **extra_env)
        proc = processes.start([sys.executable, *argv], name=name, run_dir=self.run_dir, env=env)
        self._children[name] = proc
        return proc

    def start_connector(
        self, name: str, devices: Path, *, shard: int = 0, shards: int = 1, **extra_env: str
    ) -> subprocess.Popen[bytes]:
        """Start ``python -m connectors`` polling ``devices``; one of ``shards`` processes
        on that file polls only its shard (``MILLSTREAM_CONNECTOR_SHARD=i/n``)."""
        if shards > 1:
            extra_env["MILLSTREAM_CONNECTOR_SHARD"] = f"{shard}/{shards}"
        return self.start(
            name, ["-m", "connectors"], MILLSTREAM_CONNECTOR_DEVICES_FILE=str(devices), **extra_env
        )

    def start_api(self, name: str = "api", *, admin_key: str = ADMIN_KEY, **extra_env: str) -> str:
        """Start ``python -m api`` on a free port; return its base URL once ``/ready`` answers."""
        port = ports.free_port(HOST)
        env = {
            "MILLSTREAM_API_ADMIN_API_KEY": admin_key,
            "MILLSTREAM_API_HOST": HOST,
            "MILLSTREAM_API_PORT": str(port),
            "MILLSTREAM_API_RATE_LIMIT_ENABLED": "false",
            **extra_env,
        }
        self.start(name, ["-m", "api"], **env)
        base = f"http://{HOST}:{port}"
        processes.wait_until_healthy(
            lambda: _ok(base + "/ready"),
            run_dir=self.run_dir,
            names=[name],
            what=f"the API was not ready at {base}/ready",
            timeout_s=90,
            interval_s=0.3,
        )
        return base

    def pid(self, name: str) -> int:
        return self._children[name].pid

    def psutil_process(self, name: str) -> psutil.Process:
        return psutil.Process(self.pid(name))

    def exited(self, name: str) -> bool:
        return self._children[name].poll() is not None

    def check_running(self, names: Iterable[str], *, during: str) -> None:
        """Raise if one of ``names`` has exited, naming its log."""
        for name in names:
            if self.exited(name):
                log = processes.log_file(self.run_dir, name)
                raise RuntimeError(f"{name} exited during {during}; see {log}")

    def names(self) -> list[str]:
        return list(self._children)

    def stop(self, name: str) -> None:
        processes.stop(self.run_dir, name, timeout_s=15)
        child = self._children.pop(name, None)
        if child is not None:
            child.wait(timeout=10)

    def stop_all(self) -> None:
        for name in reversed(list(self._children)):
            self.stop(name)


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def services(run_dir: Path, env: dict[str, str]) -> Iterator[Services]:
    """Services for one scenario, every one stopped on the way out."""
    svc = Services(run_dir, env)
    try:
        yield svc
    finally:
        svc.stop_all()


class ProcessSampler:
    """CPU (% of one core) and RSS of named processes, sampled from ``start`` to ``stop``."""

    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        self._procs = procs
        self._t0 = 0.0
        self._cpu0: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = dict.fromkeys(procs, 0.0)

    def _cpu(self, p: psutil.Process) -> float:
        total = 0.0
        for q in [p, *p.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = q.cpu_times()
                total += t.user + t.system
        return total

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._cpu0 = {n: self._cpu(p) for n, p in self._procs.items()}

    def sample(self) -> None:
        for n, p in self._procs.items():
            with contextlib.suppress(psutil.Error):
                rss = p.memory_info().rss / 1e6
                self.peak_rss_mb[n] = max(self.peak_rss_mb[n], rss)

    def stop(self) -> dict[str, dict[str, float]]:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        self.sample()
        return {
            n: {
                "cpu_pct": round(100 * (self._cpu(p) - self._cpu0.get(n, 0.0)) / elapsed, 1),
                "peak_rss_mb": round(self.peak_rss_mb[n], 1),
            }
            for n, p in self._procs.items()
        }


def terminate(proc: subprocess.Popen[Any], *, timeout_s: float = 30.0) -> None:
    """Stop a child the scenario started: SIGTERM, then SIGKILL if it outlives ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


async def wait_modbus_listening(devices: Iterable[tuple[str, int]], *, timeout_s: float) -> None:
    """Wait until every ``(host, port)`` accepts a Modbus TCP connection."""
    from pymodbus.client import AsyncModbusTcpClient

    async with asyncio.timeout(timeout_s):
        for host, port in devices:
            while True:
                client = AsyncModbusTcpClient(host, port=port, retries=0)
                ok = await client.connect()
                client.close()
                if ok:
                    break
                await asyncio.sleep(0.1)


def settings_env(settings: CommonSettings, conn: Connection) -> dict[str, str]:
    env = conn.env()
    env["MILLSTREAM_TOPIC_PREFIX"] = settings.topic_prefix
    return env


def server_processes(servers_dir: Path | None) -> dict[str, psutil.Process]:
    """The run's Kafka and InfluxDB processes, for sampling."""
    found: dict[str, psutil.Process] = {}
    if servers_dir is None:
        return found
    for name in ("kafka", "influxdb"):
        pid = processes.read_pid(servers_dir, name)
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                found[name] = psutil.Process(pid)
    return found
