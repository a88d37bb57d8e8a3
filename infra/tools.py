"""Checks that the build tools a server needs are installed."""

from __future__ import annotations

import shutil

from infra.errors import MissingToolError

_INSTALL_HINTS = {
    "java": "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)",
    "mvn": "install Maven (Debian: apt-get install maven)",
    "go": "install Go 1.23 or newer (https://go.dev/doc/install)",
    "cargo": "install Rust with rustup (https://rustup.rs), then: rustup toolchain install stable",
    "pkg-config": "install pkg-config (Debian: apt-get install pkg-config)",
    "cc": "install a C compiler (Debian: apt-get install build-essential)",
}


def require(*names: str) -> dict[str, str]:
    """Return the path of each tool, or raise naming the first missing one and how to get it."""
    found: dict[str, str] = {}
    for name in names:
        path = shutil.which(name)
        if path is None:
            hint = _INSTALL_HINTS.get(name, f"install {name}")
            raise MissingToolError(f"'{name}' was not found on PATH: {hint}")
        found[name] = path
    return found
