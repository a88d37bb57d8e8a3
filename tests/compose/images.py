"""The images docker-compose.yml needs, made where none can be pulled.

A Debian base from Debian's own packages (debootstrap, then `podman import`); on it, a
Python and a Node base for the Millstream image, and stand-ins for apache/kafka and
influxdb:2.7 made of the Kafka jars and InfluxDB binaries `python -m infra provision`
already builds. Each image is made once and kept; later runs only check it is there.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from infra.influx_cli_dist import influx_cli_path
from infra.influxdb_dist import influxd_path
from infra.kafka_dist import kafka_version

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
PODMAN = ["podman"]
DEBIAN_IMAGE = "localhost/millstream-debian:bookworm"
PYTHON_IMAGE = "localhost/millstream-python:3.11"
NODE_IMAGE = "localhost/millstream-node:18"
# The names docker-compose.yml uses; podman finds a local image by them before pulling.
KAFKA_IMAGE = "docker.io/apache/kafka:3.9.1"
INFLUXDB_IMAGE = "docker.io/library/influxdb:2.7"
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
# Where egress is through a TLS-inspecting proxy, its CA must be trusted inside too.
HOST_CAS = Path("/usr/local/share/ca-certificates")

_PYTHON_BASE = """FROM {debian}
COPY cas/ /usr/local/share/ca-certificates/
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \\
    --no-install-recommends ca-certificates python3 python3-venv python-is-python3 \\
    && rm -rf /var/lib/apt/lists/*
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
"""
_NODE_BASE = """FROM {debian}
COPY cas/ /usr/local/share/ca-certificates/
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \\
    --no-install-recommends ca-certificates nodejs npm \\
    && rm -rf /var/lib/apt/lists/*
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
"""


def _debian_mirror() -> str:
    """The Debian mirror the host's apt already uses (its deb822 ``URIs:`` line)."""
    for line in APT_SOURCES.read_text().splitlines():
        if line.startswith("URIs:"):
            return line.split()[1]
    raise RuntimeError(f"no URIs line in {APT_SOURCES}: debootstrap needs the host's mirror")


def podman(*args: str, timeout_s: float = 1800, input_bytes: bytes | None = None) -> str:
    result = subprocess.run(
        [*PODMAN, *args], capture_output=True, input=input_bytes, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {result.stderr.decode()[-2000:]}")
    return result.stdout.decode()


def has_image(name: str) -> bool:
    return subprocess.run([*PODMAN, "image", "exists", name], check=False).returncode == 0


def _debian_base() -> None:
    if has_image(DEBIAN_IMAGE):
        return
    with tempfile.TemporaryDirectory(prefix="millstream-rootfs-") as rootfs:
        log.info("debootstrap bookworm into %s", rootfs)
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", rootfs, _debian_mirror()],
            check=True,
            capture_output=True,
            timeout=900,
        )
        tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], check=True, capture_output=True)
        podman("import", "-", DEBIAN_IMAGE, input_bytes=tar.stdout)


def _build(tag: str, context: Path, *build_args: str) -> None:
    args = [arg for pair in build_args for arg in ("--build-arg", pair)]
    podman("build", "--network", "host", "-t", tag, *args, str(context))


def _base(tag: str, template: str) -> None:
    if has_image(tag):
        return
    with tempfile.TemporaryDirectory(prefix="millstream-base-") as tmp:
        context = Path(tmp)
        cas = context / "cas"
        cas.mkdir()
        for ca in HOST_CAS.glob("*.crt") if HOST_CAS.is_dir() else []:
            shutil.copy(ca, cas / ca.name)
        (context / "Dockerfile").write_text(template.format(debian=DEBIAN_IMAGE))
        _build(tag, context)


def _stand_in(tag: str, recipe: Path, artifacts: dict[str, Path]) -> None:
    if has_image(tag):
        return
    with tempfile.TemporaryDirectory(prefix="millstream-image-") as tmp:
        context = Path(tmp) / recipe.name
        shutil.copytree(recipe, context)
        for name, source in artifacts.items():
            copy = shutil.copytree if source.is_dir() else shutil.copy
            copy(source, context / name)
        _build(tag, context, f"BASE_IMAGE={DEBIAN_IMAGE}")


def prepare(cache_dir: Path) -> None:
    """Make every image the compose stack needs here (each only once)."""
    _debian_base()
    _base(PYTHON_IMAGE, _PYTHON_BASE)
    _base(NODE_IMAGE, _NODE_BASE)
    _stand_in(
        KAFKA_IMAGE,
        ROOT / "docker" / "kafka",
        {"libs": cache_dir / f"kafka-{kafka_version()}" / "libs"},
    )
    _stand_in(
        INFLUXDB_IMAGE,
        ROOT / "docker" / "influxdb",
        {
            "influxd": influxd_path(cache_dir),
            "influx": influx_cli_path(cache_dir),
        },
    )
