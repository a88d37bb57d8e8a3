"""What a scenario receives and what it returns.

A scenario is a module in :mod:`bench.scenarios` with ``NAME`` (short, snake_case),
``TITLE`` (one line for the report) and ``run(ctx: ScenarioContext) -> list[Figure]``.
It measures its subject and the baseline it is compared against in the same call, stays
on loopback, bounds every loop in count and time, and stops what it started.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from contracts.settings import CommonSettings
from infra.bootstrap import create_millstream_topics
from infra.servers import Connection


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, with the baseline it is compared against and its goal.

    ``higher_is_better`` decides how ``ratio`` reads: for throughput the ratio is
    value / baseline, for latency baseline / value, so above 1 is always better.
    """

    scenario: str
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    goal: str = ""
    met: bool | None = None
    higher_is_better: bool = True
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value or not self.value:
            return None
        if self.higher_is_better:
            return self.value / self.baseline_value
        return self.baseline_value / self.value


@dataclass(slots=True)
class ScenarioContext:
    """The running stack and the run's choices, handed to every scenario."""

    connection: Connection
    quick: bool
    work_dir: Path
    progress: Callable[[str], None]
    stream_partitions: int = 6
    # Where the run's Kafka and InfluxDB keep their pid files (for CPU/memory sampling).
    servers_dir: Path | None = None

    def fresh_settings(self, *, partitions: int | None = None) -> CommonSettings:
        """Settings with a topic prefix of their own, every topic created, so scenarios
        never read each other's records."""
        prefix = f"bench{uuid.uuid4().hex[:8]}"
        c = self.connection
        create_millstream_topics(
            c.kafka_bootstrap, prefix=prefix, stream_partitions=partitions or self.stream_partitions
        )
        return CommonSettings(
            kafka_bootstrap_servers=c.kafka_bootstrap,
            topic_prefix=prefix,
            influx_url=c.influx_url,
            influx_token=SecretStr(c.influx_token),
            influx_org=c.influx_org,
            influx_bucket=c.influx_bucket,
            influx_aggregates_bucket=c.influx_aggregates_bucket,
            influx_alarms_bucket=c.influx_alarms_bucket,
            influx_audit_bucket=c.influx_audit_bucket,
        )

    def env(self, settings: CommonSettings) -> dict[str, str]:
        """``MILLSTREAM_*`` variables for a subprocess using ``settings``."""
        env = self.connection.env()
        env["MILLSTREAM_TOPIC_PREFIX"] = settings.topic_prefix
        return env
