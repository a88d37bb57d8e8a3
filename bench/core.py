"""What a scenario receives and what it returns.

A scenario is a module in :mod:`bench.scenarios` with ``NAME`` (short, snake_case),
``TITLE`` (one line for the report) and ``run(ctx: ScenarioContext) -> list[Figure]``.
It measures its subject and the baseline it is compared against in the same call, stays
on loopback, bounds every loop in count and time, and stops what it started.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench import load
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


def statistic(values: Sequence[float], stat: str) -> float:
    """``max``, or a nearest-rank percentile named ``pNN`` (``p50``, ``p99``)."""
    if stat == "max":
        return max(values)
    return load.percentile(values, float(stat.removeprefix("p")))


def latency_figures(
    scenario: str,
    values_ms: Sequence[float],
    baseline_ms: Sequence[float],
    *,
    baseline: str,
    stats: Sequence[str] = ("p50", "p99", "max"),
    label: str = "",
    goal: tuple[str, float] | None = None,
    note: str = "",
) -> list[Figure]:
    """One figure per statistic of a latency sample in ms, each against the same statistic
    of the baseline's sample. ``goal`` is ``(stat, at most ms)``; the note goes on the goal's
    figure, or on the first."""
    noted = goal[0] if goal else stats[0]
    figures = []
    for stat in stats:
        value = statistic(values_ms, stat)
        limit = goal[1] if goal and goal[0] == stat else None
        figures.append(
            Figure(
                scenario,
                f"{label} {stat}".strip(),
                value,
                "ms",
                baseline_name=f"{baseline} {stat}",
                baseline_value=statistic(baseline_ms, stat),
                higher_is_better=False,
                goal="" if limit is None else f"<= {limit:.0f} ms",
                met=None if limit is None else value <= limit,
                note=note if stat == noted else "",
            )
        )
    return figures


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

    def worker_env(self, settings: CommonSettings, app_id: str, **extra: str) -> dict[str, str]:
        """The whole environment of a ``python -m pipeline worker`` of its own: this process's,
        ``settings``, app id ``app_id`` with its data in ``work_dir/app_id``, warnings only,
        then ``extra``."""
        env = dict(os.environ)
        env.update(self.env(settings))
        env.update(
            MILLSTREAM_PIPELINE_APP_ID=app_id,
            MILLSTREAM_PIPELINE_DATA_DIR=str(self.work_dir / app_id),
            MILLSTREAM_PIPELINE_LOG_LEVEL="warning",
            **extra,
        )
        return env
