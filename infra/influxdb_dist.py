"""Building the InfluxDB 2 server from the Go module proxy, cached by version.

``go install github.com/influxdata/influxdb/v2/cmd/influxd@v2.x`` is refused because the
server's go.mod has replace directives, so a small wrapper module (``influxdb_build/``)
requires the server and repeats that replace. Flux's Rust core (libflux) is built by
cargo through InfluxData's ``pkg-config`` wrapper. Flux pins an old Rust whose lints the
current compiler turns into errors; a rustc wrapper caps lints at "warn" for every crate,
host crates included (``RUSTFLAGS`` would miss those when cargo builds with ``--target``).
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from infra.go_build import cached_build, pinned_version
from infra.progress import run_step

_BUILD_MODULE = Path(__file__).parent / "influxdb_build"
_RUSTC_WRAPPER = """#!/bin/sh
rustc="$1"; shift
for arg in "$@"; do
  [ "$arg" = "--cap-lints" ] && exec "$rustc" "$@"
done
exec "$rustc" "$@" --cap-lints warn
"""


def influxdb_version() -> str:
    return pinned_version(_BUILD_MODULE, "github.com/influxdata/influxdb/v2", pattern=r"[\d.]+")


def influxd_path(cache_dir: Path) -> Path:
    return cache_dir / f"influxdb-{influxdb_version()}" / "influxd"


def provision_influxdb(cache_dir: Path, *, console: Console) -> Path:
    """Return the cached ``influxd`` binary for the pinned version, building it if missing."""

    def build(work: Path) -> None:
        wrapper = work / "rustc-cap-lints"
        wrapper.write_text(_RUSTC_WRAPPER)
        wrapper.chmod(0o755)
        env = dict(os.environ)
        env.update(
            GOFLAGS="-mod=mod",
            CGO_ENABLED="1",
            PKG_CONFIG=str(work / "pkg-config"),
            RUSTUP_TOOLCHAIN=env.get("MILLSTREAM_RUST_TOOLCHAIN", "stable"),
            RUSTC_WRAPPER=str(wrapper),
        )
        logs = cache_dir / "logs"
        run_step(
            ["go", "build", "-o", str(work / "pkg-config"), "github.com/influxdata/pkg-config"],
            title="Building InfluxData's pkg-config wrapper",
            estimate="first time only, under a minute",
            log_path=logs / "influxdb-pkg-config.log",
            console=console,
            env=env,
            cwd=work / "module",
        )
        run_step(
            [
                "go",
                "build",
                "-tags",
                "sqlite_foreign_keys,sqlite_json",
                "-o",
                str(work / "influxd"),
                "github.com/influxdata/influxdb/v2/cmd/influxd",
            ],
            title=f"Building InfluxDB {influxdb_version()} with Flux (Go + Rust)",
            estimate="first time only: about 6-10 minutes on 2 cores, then cached",
            log_path=logs / "influxdb-build.log",
            console=console,
            env=env,
            cwd=work / "module",
        )

    return cached_build(influxd_path(cache_dir), _BUILD_MODULE, build, needs=("go", "cargo", "cc"))
