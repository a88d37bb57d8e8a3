"""Settings of the local stack (``MILLSTREAM_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "millstream"


class InfraSettings(BaseSettings):
    """Where servers are cached and run, and on which loopback ports.

    A port of 0 means "pick a free one"; the chosen ports are kept in the run directory's
    state file so a restarted stack reuses them.
    """

    model_config = SettingsConfigDict(env_prefix="MILLSTREAM_", frozen=True, extra="ignore")

    cache_dir: Path = Field(default_factory=_default_cache_dir)
    run_dir: Path = Path(".millstream")
    host: str = "127.0.0.1"
    kafka_port: int = 0
    influx_port: int = 0
    kafka_heap_mb: int = 512
    topic_prefix: str = "millstream"
    stream_partitions: int = 6
    influx_org: str = "millstream"
    influx_bucket: str = "telemetry"
    influx_aggregates_bucket: str = "aggregates"
    influx_alarms_bucket: str = "alarms"
    influx_audit_bucket: str = "audit"
    # Raw readings (influx_bucket) are kept 30 days; aggregates, alarms and audit 400.
    influx_retention_days: int = 30
    influx_history_retention_days: int = 400

    def bucket_retention_days(self) -> dict[str, int]:
        """Every bucket Millstream writes, with its retention in days."""
        history = self.influx_history_retention_days
        return {
            self.influx_bucket: self.influx_retention_days,
            self.influx_aggregates_bucket: history,
            self.influx_alarms_bucket: history,
            self.influx_audit_bucket: history,
        }
    start_timeout_s: float = 120.0
