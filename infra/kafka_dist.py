"""Provisioning the Kafka broker's jars from Maven Central, cached by version."""

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


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", _POM.read_text())
    if match is None:
        raise RuntimeError(f"{_POM}: no <kafka.version> property")
    return match.group(1)


@dataclass(frozen=True, slots=True)
class KafkaDist:
    """A provisioned Kafka: a folder of jars and the java to run them with."""

    home: Path
    java: str

    @property
    def classpath(self) -> str:
        return str(self.home / "libs" / "*")


def provision_kafka(cache_dir: Path, *, console: Console) -> KafkaDist:
    """Return the cached Kafka for the pinned version, resolving it with Maven if missing."""
    found = tools.require("java")
    home = cache_dir / f"kafka-{kafka_version()}"
    marker = home / ".complete"
    if marker.exists():
        return KafkaDist(home=home, java=found["java"])
    tools.require("mvn")
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy(_POM, staging / "pom.xml")
    started = time.monotonic()
    run_step(
        [
            "mvn", "-B", "-q", "-f", str(staging / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={staging / 'libs'}",
        ],
        title=f"Fetching Kafka {kafka_version()} from Maven Central",
        estimate="first time only, about 1 minute",
        log_path=cache_dir / "logs" / "kafka-provision.log",
        console=console,
    )
    marker_text = f"provisioned in {time.monotonic() - started:.0f}s\n"
    (staging / ".complete").write_text(marker_text)
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    return KafkaDist(home=home, java=found["java"])
