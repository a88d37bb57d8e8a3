"""The compose stack brought up with podman-compose, in the order its depends_on asks.

podman-compose 1.0.3 (Debian 12) starts services in dependency order but does not wait for
the `service_healthy` and `service_completed_successfully` conditions, and podman runs no
health checks by itself without systemd. So the stack is started in stages, each waited for
with `podman healthcheck run` or `podman wait`: what `docker compose up` does on its own.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.compose.images import NODE_IMAGE, PODMAN, PYTHON_IMAGE

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
STAGES: list[tuple[list[str], str]] = [
    (["kafka", "influxdb"], "healthy"),
    (["bootstrap"], "exited 0"),
    (["simulator"], "healthy"),
    (["connector", "pipeline"], "running"),
    (["api"], "healthy"),
]


@dataclass(frozen=True, slots=True)
class ComposeProject:
    name: str
    env: Mapping[str, str]

    def compose(self, *args: str, timeout_s: float = 1800) -> str:
        argv = ["podman-compose", "-p", self.name, "-f", str(ROOT / "docker-compose.yml"), *args]
        done = subprocess.run(
            argv,
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}"
            )
        return done.stdout

    def container(self, service: str) -> str:
        return f"{self.name}_{service}_1"

    def logs(self, service: str) -> str:
        done = subprocess.run(
            [*PODMAN, "logs", "--tail", "40", self.container(service)],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout + done.stderr


def project_env(*, api_port: int, influx_port: int, secrets: Mapping[str, str]) -> dict[str, str]:
    return {
        **secrets,
        "MILLSTREAM_PYTHON_IMAGE": PYTHON_IMAGE,
        "MILLSTREAM_NODE_IMAGE": NODE_IMAGE,
        "MILLSTREAM_API_PUBLISHED_PORT": str(api_port),
        "MILLSTREAM_INFLUX_PUBLISHED_PORT": str(influx_port),
    }


def _state(container: str) -> tuple[str, int]:
    done = subprocess.run(
        [*PODMAN, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container],
        capture_output=True,
        text=True,
        check=False,
    )
    status, _, code = done.stdout.strip().partition(" ")
    return status, int(code or 0)


# A one-shot service (bootstrap) that fails is started again this many times: its first
# CreateTopics can time out while a just-healthy broker on a loaded machine settles.
ONE_SHOT_RETRIES = 2


def _reached(project: ComposeProject, service: str, goal: str, tries: dict[str, int]) -> bool:
    container = project.container(service)
    status, code = _state(container)
    if goal == "exited 0":
        if status == "exited" and code != 0:
            if tries.get(service, 0) >= ONE_SHOT_RETRIES:
                raise RuntimeError(f"{service} exited {code}:\n{project.logs(service)}")
            tries[service] = tries.get(service, 0) + 1
            log.warning("%s exited %d; starting it again", service, code)
            subprocess.run([*PODMAN, "start", container], capture_output=True, check=True)
            return False
        return status == "exited"
    if status == "exited":
        raise RuntimeError(f"{service} exited {code}:\n{project.logs(service)}")
    if goal == "running":
        return status == "running"
    check = subprocess.run(
        [*PODMAN, "healthcheck", "run", container], capture_output=True, check=False
    )
    return check.returncode == 0


def up(project: ComposeProject, *, timeout_s: float = 300) -> None:
    """Build the Millstream image if missing, then start each stage once the last is ready."""
    project.compose("build", "api")
    for services, goal in STAGES:
        project.compose("up", "-d", "--no-deps", *services)
        deadline = time.monotonic() + timeout_s
        waiting = list(services)
        tries: dict[str, int] = {}
        while waiting:
            waiting = [s for s in waiting if not _reached(project, s, goal, tries)]
            if waiting and time.monotonic() > deadline:
                logs = "\n".join(f"--- {s}\n{project.logs(s)}" for s in waiting)
                raise RuntimeError(f"not {goal} after {timeout_s:.0f}s: {waiting}\n{logs}")
            if waiting:
                time.sleep(2)
        log.info("compose stage %s: %s", services, goal)


def down(project: ComposeProject) -> None:
    """Stop and remove every container, the project's volumes and its network."""
    project.compose("down", "-v", timeout_s=300)
    # podman-compose 1.0.3's down leaves the network behind.
    subprocess.run(
        [*PODMAN, "network", "rm", "-f", f"{project.name}_default"],
        capture_output=True,
        check=False,
    )
