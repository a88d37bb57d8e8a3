"""The machine and software a run measured on: CPU, cores, memory, versions, git commit."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

LIBRARIES = (
    "aiokafka",
    "kafka-python",
    "faust-streaming",
    "influxdb-client",
    "fastapi",
    "uvicorn",
    "websockets",
    "pymodbus",
    "orjson",
    "pydantic",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(repo: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def _server_versions(cache_dir: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    if cache_dir.is_dir():
        for child in sorted(cache_dir.iterdir()):
            if child.name.startswith(("kafka", "influx")):
                found[child.name] = "cached"
    return found


def describe(repo: Path, cache_dir: Path) -> dict[str, Any]:
    versions: dict[str, str] = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "load_avg_at_start": [round(x, 2) for x in psutil.getloadavg()],
        "git_commit": _git(repo, "rev-parse", "HEAD") + (" (dirty)" if dirty else ""),
        "versions": versions,
        "servers": {"kafka": "3.9", "influxdb": "2.7"},
        "server_cache": _server_versions(cache_dir),
    }
