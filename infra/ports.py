"""Free loopback ports."""

from __future__ import annotations

import contextlib
import socket


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports nothing listens on now (the OS picks them).

    All of them are held bound until every one is picked: a port closed before the next
    bind may be handed out again, and two servers would then be told the same port.
    """
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
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
