"""Building InfluxData's ``influx`` CLI from the Go module proxy, cached by version, beside
``influxd``.

The CLI has no replace directives and no Rust part, so a small wrapper module
(``influx_cli_build/``) pinning it is enough for ``go build``. The version is the one
InfluxDB 2.7.12 itself requires (its go.mod pins influx-cli at a commit of October 2022,
between the 2.5.0 and 2.6.0 releases); the Go module proxy this project builds from does
not serve the tagged 2.7.x releases.

Point it at the local stack with ``INFLUX_HOST``, ``INFLUX_TOKEN`` and ``INFLUX_ORG``
(``python -m infra env`` prints them).
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from infra.go_build import cached_build, pinned_version
from infra.progress import run_step

_BUILD_MODULE = Path(__file__).parent / "influx_cli_build"
_PACKAGE = "github.com/influxdata/influx-cli/v2"


def influx_cli_version() -> str:
    return pinned_version(_BUILD_MODULE, _PACKAGE)


def influx_cli_path(cache_dir: Path) -> Path:
    return cache_dir / f"influx-cli-{influx_cli_version()}" / "influx"


def provision_influx_cli(cache_dir: Path, *, console: Console) -> Path:
    """Return the cached ``influx`` binary for the pinned version, building it if missing."""
    version = influx_cli_version()

    def build(work: Path) -> None:
        env = dict(os.environ)
        env.update(GOFLAGS="-mod=mod", CGO_ENABLED="0")
        # The CLI's own `influx version` shows these (its build sets them the same way).
        ldflags = f"-X main.version={version} -X main.commit={version.rsplit('-', 1)[-1]}"
        argv = ["go", "build", "-ldflags", ldflags, "-o", str(work / "influx")]
        run_step(
            [*argv, f"{_PACKAGE}/cmd/influx"],
            title=f"Building the influx CLI {version}",
            estimate="first time only: about 1-3 minutes, then cached",
            log_path=cache_dir / "logs" / "influx-cli-build.log",
            console=console,
            env=env,
            cwd=work / "module",
        )

    return cached_build(influx_cli_path(cache_dir), _BUILD_MODULE, build, needs=("go",))
