"""Provisioning Kafka's jars from Maven Central, cached by version: the broker, and
MirrorMaker 2 (``connect-mirror`` on ``connect-runtime``) at the broker's version."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from infra import tools
from infra.progress import run_step

_POM = Path(__file__).parent / "kafka_build" / "pom.xml"
_MIRROR_POM = Path(__file__).parent / "mirror_build" / "pom.xml"


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", _POM.read_text())
    if match is None:
        raise RuntimeError(f"{_POM}: no <kafka.version> property")
    return match.group(1)


@dataclass(frozen=True, slots=True)
class KafkaDist:
    """A provisioned Kafka (or MirrorMaker 2): a folder of jars and the java to run them with."""

    home: Path
    java: str

    @property
    def classpath(self) -> str:
        return str(self.home / "libs" / "*")


def provision_kafka(cache_dir: Path, *, console: Console) -> KafkaDist:
    """Return the cached Kafka for the pinned version, resolving it with Maven if missing."""
    return _provision_jars(cache_dir, _POM, "kafka", "Kafka", console=console)


def provision_mirrormaker(cache_dir: Path, *, console: Console) -> KafkaDist:
    """Return the cached MirrorMaker 2 at the broker's version, resolving it if missing."""
    return _provision_jars(
        cache_dir, _MIRROR_POM, "mirrormaker", "MirrorMaker 2 (connect-mirror)", console=console
    )


def _provision_jars(
    cache_dir: Path, pom: Path, name: str, what: str, *, console: Console
) -> KafkaDist:
    """The runtime classpath ``pom`` names, in ``<cache>/<name>-<version>/libs``."""
    folder = f"{name}-{kafka_version()}"
    title = f"Fetching {what} {kafka_version()} from Maven Central"
    found = tools.require("java")
    home = cache_dir / folder
    marker = home / ".complete"
    if marker.exists():
        return KafkaDist(home=home, java=found["java"])
    tools.require("mvn")
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy(pom, staging / "pom.xml")
    started = time.monotonic()
    run_step(
        [
            "mvn",
            "-B",
            "-f",
            str(staging / "pom.xml"),
            f"-Dkafka.version={kafka_version()}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging / 'libs'}",
        ],
        title=title,
        estimate="first time only, about 1 minute",
        log_path=cache_dir / "logs" / f"{name}-provision.log",
        console=console,
    )
    marker_text = f"provisioned in {time.monotonic() - started:.0f}s\n"
    (staging / ".complete").write_text(marker_text)
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    return KafkaDist(home=home, java=found["java"])
