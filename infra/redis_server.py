"""Running Debian's ``redis-server`` on loopback: the store API replicas share rate limits in.

Nothing in it needs to outlive a restart (rate-limit windows are seconds to an hour long), so
it keeps no snapshot and no append-only file.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from infra import processes
from infra.errors import InfraError

NAME = "redis"


def redis_binary(configured: str) -> str:
    """The ``redis-server`` to run; InfraError naming the install command if there is none."""
    found = shutil.which(configured)
    if found is None:
        raise InfraError(
            f"MILLSTREAM_REDIS is set but '{configured}' was not found: install Debian's "
            "redis-server ('make redis-server' or 'apt-get install redis-server'), or set "
            "MILLSTREAM_REDIS_SERVER to its path"
        )
    return found


def start_redis(
    binary: str, *, run_dir: Path, host: str, port: int, maxmemory_mb: int
) -> subprocess.Popen[bytes]:
    home = run_dir / NAME
    home.mkdir(parents=True, exist_ok=True)
    return processes.start(
        [
            binary,
            "--bind",
            host,
            "--port",
            str(port),
            "--dir",
            str(home.resolve()),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--maxmemory",
            f"{maxmemory_mb}mb",
            # Rate-limit keys all expire: under memory pressure evict those first.
            "--maxmemory-policy",
            "volatile-ttl",
        ],
        name=NAME,
        run_dir=run_dir,
    )


def ping(host: str, port: int, *, timeout_s: float = 1.0) -> bool:
    """Whether the server answers PING with PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def wait_healthy(host: str, port: int, *, run_dir: Path, timeout_s: float) -> None:
    processes.wait_until_healthy(
        lambda: ping(host, port),
        run_dir=run_dir,
        names=[NAME],
        what=f"Redis did not answer on {host}:{port}",
        timeout_s=timeout_s,
        interval_s=0.1,
    )


def storage_uri(host: str, port: int) -> str:
    """What ``MILLSTREAM_API_RATE_LIMIT_STORAGE_URI`` is set to for this server."""
    return f"redis://{host}:{port}/0"
