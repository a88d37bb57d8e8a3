"""Settings of the pipeline worker, read from ``MILLSTREAM_*`` environment variables.

Built once in :mod:`pipeline.__main__` (or by a test) and passed down; nothing here is
built at import time. Pipeline-only fields are named ``pipeline_*`` so their variables read
``MILLSTREAM_PIPELINE_...``; connection fields come from :class:`CommonSettings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from contracts.alarms import Severity
from contracts.settings import CommonSettings, LogLevel
from kafka_edge.connection import KafkaConnection, parse_bootstrap
from kafka_edge.retry import RetryPolicy


class PipelineSettings(CommonSettings):
    """Everything one pipeline worker needs; several workers share ``pipeline_app_id``."""

    pipeline_app_id: str = Field(
        default="millstream-pipeline",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="Faust app id: the Kafka consumer group and the prefix of table topics.",
    )
    pipeline_data_dir: Path = Field(
        default=Path(".millstream/pipeline"),
        description="Faust's data directory, one per worker on a host (the alarm-state "
        "table itself is kept in memory and rebuilt from its changelog topic).",
    )
    pipeline_web_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of Faust's web server on pipeline_web_bind; unset disables it, so "
        "several workers on one host never collide.",
    )
    pipeline_web_bind: str = "127.0.0.1"
    pipeline_partitions: int | None = Field(
        default=None,
        ge=1,
        description="Partitions of the readings topic, which the alarm-state table must "
        "match (co-partitioning); unset asks the broker at start-up.",
    )
    pipeline_replication_factor: int = Field(default=1, ge=1)
    pipeline_kafka_timeout_ms: int = Field(
        default=15_000, ge=100, description="How long start-up waits for the broker's metadata."
    )
    pipeline_batch_size: int = Field(
        default=5000, ge=1, le=100_000, description="Readings per InfluxDB write, at most."
    )
    pipeline_batch_max_wait_ms: int = Field(
        default=500,
        ge=10,
        le=60_000,
        description="How long a partial batch waits for more readings before it is written.",
    )
    pipeline_commit_interval_ms: int = Field(
        default=2_800,
        ge=50,
        le=60_000,
        description="How often the worker commits the offsets of readings InfluxDB accepted.",
    )
    pipeline_influx_timeout_ms: int = Field(default=10_000, ge=100)
    pipeline_max_pending_batches: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Batches waiting for InfluxDB at most; then consumption pauses.",
    )
    pipeline_fetch_max_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=64 * 1024,
        description="Bytes fetched per partition per request (Kafka max.partition.fetch.bytes).",
    )
    pipeline_alarms_enabled: bool = True
    pipeline_storage_enabled: bool = Field(
        default=True,
        description="Write readings, aggregates, alarm rows and the audit log to InfluxDB. "
        "false (with windows off): a worker that only evaluates alarms, under an app id of "
        "its own, next to workers with alarms off.",
    )
    pipeline_windows_enabled: bool = True
    pipeline_window_tumbling_s: int = Field(
        default=60, ge=1, le=86_400, description="Size of the tumbling window."
    )
    pipeline_window_hopping_s: int = Field(
        default=300, ge=0, le=86_400, description="Size of the hopping window; 0 turns it off."
    )
    pipeline_window_hop_s: int = Field(
        default=60, ge=1, le=86_400, description="How far the hopping window advances."
    )
    pipeline_window_grace_ms: int = Field(
        default=5_000,
        ge=0,
        le=3_600_000,
        description="How long after its end (in reading time) a window still takes readings; "
        "a later reading is dead-lettered (stage window).",
    )
    pipeline_window_idle_close_ms: int = Field(
        default=30_000,
        ge=1_000,
        description="A machine silent this long (wall time) has its windows closed once "
        "the wall clock is past their end plus grace.",
    )
    pipeline_audit_enabled: bool = True
    pipeline_audit_batch_size: int = Field(default=1000, ge=1, le=100_000)
    pipeline_retry_backoff_ms: int = Field(
        default=500, ge=1, description="First pause between attempts; doubles each time."
    )
    pipeline_retry_backoff_max_ms: int = Field(default=10_000, ge=1)
    pipeline_alarm_comm_loss_after_s: float = Field(
        default=60.0,
        ge=0,
        le=86_400,
        description="No reading from a machine for this long raises its comm_loss alarm; "
        "0 turns silence detection off (at least 10 otherwise).",
    )
    pipeline_alarm_comm_loss_severity: Severity = "high"
    pipeline_alarm_timer_interval_ms: int = Field(
        default=250,
        ge=50,
        le=60_000,
        description="How often the alarm timer checks delays, silence and shelve expiry.",
    )
    pipeline_alarm_rules_wait_ms: int = Field(
        default=10_000,
        ge=0,
        le=300_000,
        description="How long readings wait at start-up for the thresholds topic to load.",
    )
    pipeline_log_level: LogLevel = "INFO"

    @field_validator("pipeline_alarm_comm_loss_after_s")
    @classmethod
    def _comm_loss_after(cls, value: float) -> float:
        if 0 < value < 10:
            raise ValueError("must be 0 (off) or at least 10 seconds")
        return value

    @model_validator(mode="after")
    def _roles_fit(self) -> PipelineSettings:
        if not self.pipeline_storage_enabled and self.pipeline_windows_enabled:
            raise ValueError(
                "pipeline_windows_enabled: windows write to InfluxDB, so a worker with "
                "MILLSTREAM_PIPELINE_STORAGE_ENABLED=false needs "
                "MILLSTREAM_PIPELINE_WINDOWS_ENABLED=false"
            )
        if not (self.pipeline_storage_enabled or self.pipeline_alarms_enabled):
            raise ValueError(
                "pipeline_storage_enabled: with alarms off too, the worker would do nothing"
            )
        return self

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap_parses(cls, value: str) -> str:
        parse_bootstrap(value)
        return value

    def kafka(self) -> KafkaConnection:
        """Where Kafka is and how to reach it, for every client of the worker."""
        return KafkaConnection.from_settings(self)

    def retry_policy(self) -> RetryPolicy:
        """The sinks' and publishers' retry policy (the settings are in milliseconds)."""
        return RetryPolicy(
            initial_s=self.pipeline_retry_backoff_ms / 1000,
            max_s=max(self.pipeline_retry_backoff_max_ms, self.pipeline_retry_backoff_ms) / 1000,
        )
