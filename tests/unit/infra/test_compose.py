"""docker-compose.yml describes the same stack as `make run`, safely."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"kafka", "influxdb", "bootstrap", "simulator", "connector", "pipeline", "api"}
SECRET_NAMES = re.compile(r"(TOKEN|PASSWORD|SECRET|API_KEY)$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def test_every_service_of_the_local_stack_is_described(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_servers_use_official_images_with_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:3.9")
    assert services["influxdb"]["image"].startswith("influxdb:2.")
    for name in ("kafka", "influxdb", "api", "simulator"):
        check = services[name]["healthcheck"]
        # CMD-SHELL: podman-compose 1.0.3 runs a CMD list as `sh -c <first word>`.
        assert check["test"][0] == "CMD-SHELL", name
        assert check["retries"] >= 3, name


def test_connector_and_worker_are_checked_on_their_readiness_pages(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    pages = {
        "connector": ("MILLSTREAM_CONNECTOR_HEALTH_PORT", "/health/ready"),
        "pipeline": ("MILLSTREAM_PIPELINE_WEB_PORT", "/health/ready/"),
    }
    for name, (port_variable, path) in pages.items():
        port = services[name]["environment"][port_variable]
        check = services[name]["healthcheck"]
        assert check["test"][0] == "CMD-SHELL", name
        assert f"http://127.0.0.1:{port}{path}'" in " ".join(check["test"]), name
        assert check["retries"] >= 3, name


def test_services_wait_for_what_they_need(compose: dict[str, Any]) -> None:
    services = compose["services"]
    boot = services["bootstrap"]["depends_on"]
    assert boot["kafka"]["condition"] == "service_healthy"
    assert boot["influxdb"]["condition"] == "service_healthy"
    for name in ("connector", "pipeline", "api"):
        deps = services[name]["depends_on"]
        assert deps["bootstrap"]["condition"] == "service_completed_successfully", name
    assert services["connector"]["depends_on"]["simulator"]["condition"] == "service_healthy"


def test_api_is_published_on_loopback_8080_by_default(compose: dict[str, Any]) -> None:
    assert compose["services"]["api"]["ports"] == [
        "127.0.0.1:${MILLSTREAM_API_PUBLISHED_PORT:-8080}:8080"
    ]
    assert compose["services"]["influxdb"]["ports"] == [
        "127.0.0.1:${MILLSTREAM_INFLUX_PUBLISHED_PORT:-8086}:8086"
    ]


def test_images_build_from_base_image_arguments_defaulting_to_public_ones(
    compose: dict[str, Any],
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG NODE_IMAGE=node:20-slim" in dockerfile
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
    for name in ("bootstrap", "simulator", "connector", "pipeline", "api"):
        args = compose["services"][name]["build"]["args"]
        assert args["PYTHON_IMAGE"] == "${MILLSTREAM_PYTHON_IMAGE:-python:3.11-slim}", name
        assert args["NODE_IMAGE"] == "${MILLSTREAM_NODE_IMAGE:-node:20-slim}", name


def test_state_lives_in_volumes_the_image_user_owns(compose: dict[str, Any]) -> None:
    """The image runs as nobody, whose home does not exist: the spool needs a place."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "MILLSTREAM_CONNECTOR_SPOOL_DIR=/var/lib/millstream/spool" in dockerfile
    assert "chown -R nobody /var/lib/millstream" in dockerfile
    services = compose["services"]
    assert "connector-spool:/var/lib/millstream/spool" in services["connector"]["volumes"]
    assert "pipeline-data:/var/lib/millstream/pipeline" in services["pipeline"]["volumes"]
    kafka = services["kafka"]
    assert f"kafka-data:{kafka['environment']['KAFKA_LOG_DIRS']}" in kafka["volumes"]


def test_services_run_the_same_entry_points_as_make_run(compose: dict[str, Any]) -> None:
    commands = {name: svc.get("command") for name, svc in compose["services"].items()}
    assert commands["connector"] == ["python", "-m", "connectors"]
    assert commands["pipeline"] == ["python", "-m", "pipeline", "worker"]
    assert commands["api"] == ["python", "-m", "api"]
    assert commands["simulator"][:3] == ["python", "-m", "connectors.simulator"]


def _environments(compose: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            found.append((name, key, str(value)))
    return found


def test_no_secret_has_a_value_in_plain_sight(compose: dict[str, Any]) -> None:
    secrets = [(n, k, v) for n, k, v in _environments(compose) if SECRET_NAMES.search(k)]
    assert secrets, "the stack needs secrets; they must come from the environment"
    for service, key, value in secrets:
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{service}.{key} = {value!r}"


def test_services_share_connection_settings(compose: dict[str, Any]) -> None:
    env = dict((k, v) for n, k, v in _environments(compose) if n == "pipeline")
    assert env["MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["MILLSTREAM_INFLUX_URL"] == "http://influxdb:8086"


def test_env_example_names_every_required_secret(compose: dict[str, Any]) -> None:
    required = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text()))
    example = (ROOT / ".env.example").read_text()
    names = set(re.findall(r"^([A-Z_]+)=", example, flags=re.M))
    assert required <= names


def test_compose_devices_point_at_the_simulator_service() -> None:
    doc = yaml.safe_load((ROOT / "docker" / "devices.yaml").read_text())
    assert {d["host"] for d in doc["devices"]} == {"simulator"}


def test_compose_devices_are_the_example_file_but_for_the_host() -> None:
    """The containers poll what `make run` polls: same tags, commands and workarounds."""
    compose_doc = yaml.safe_load((ROOT / "docker" / "devices.yaml").read_text())
    example = yaml.safe_load((ROOT / "devices.example.yaml").read_text())
    for device in example["devices"]:
        device["host"] = "simulator"
    assert compose_doc == example, "copy devices.example.yaml to docker/ with host: simulator"


def _compose_client() -> list[str] | None:
    for argv in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(argv[0]) is None:
            continue
        probe = subprocess.run([*argv, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return argv
    return None


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("no docker compose client on this machine")
    env_file = tmp_path / ".env"
    env_file.write_text(
        "MILLSTREAM_INFLUX_TOKEN=t\nINFLUXDB_ADMIN_PASSWORD=p\nMILLSTREAM_API_ADMIN_API_KEY=k\nMILLSTREAM_API_JWT_SECRET=j\n"
    )
    result = subprocess.run(
        [*client, "-f", str(COMPOSE), "--env-file", str(env_file), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
