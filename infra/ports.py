"""Free loopback ports.

Ports are picked below the kernel's ephemeral range (``ip_local_port_range``): a port the
OS hands out for ``bind(0)`` comes from that range, and an outgoing connection's source
port can take it in the seconds between the pick and the server's own bind.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
from pathlib import Path

_PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Below this, ports are the well-known and registered ones services are configured with.
_LOWEST = 10_000
# Linux's default start of the ephemeral range, where the file cannot be read.
_EPHEMERAL_FROM = 32_768


def ephemeral_from() -> int:
    """The first port of the kernel's ephemeral range."""
    try:
        return int(_PORT_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _EPHEMERAL_FROM


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports nothing listens on now, below the ephemeral range (bound
    by the OS's choice instead where that range leaves too little room below it).

    All of them are held bound until every one is picked: a port closed before the next
    bind may be picked again, and two servers would then be told the same port.
    """
    low, high = _LOWEST, ephemeral_from()
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        tries = 0
        while len(ports) < count:
            tries += 1
            below = high - low >= 1_000 and tries <= 100 * count
            port = low + secrets.randbelow(high - low) if below else 0
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:
                if not port:
                    raise
                continue
            ports.append(sock.getsockname()[1])
        return ports


def free_port(host: str = "127.0.0.1") -> int:
    """One port nothing listens on now; for several, :func:`free_ports`."""
    return free_ports(host, 1)[0]


def is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def is_listening(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
