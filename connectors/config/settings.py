"""Settings of the connector, read from ``MILLSTREAM_*`` environment variables.

Built once in ``connectors.__main__`` and passed down. The connector's own variables
are ``MILLSTREAM_CONNECTOR_*``, e.g. ``MILLSTREAM_CONNECTOR_DEVICES_FILE=devices.yaml``.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field

from contracts.settings import CommonSettings, LogLevel


def _default_connector_id() -> str:
    return f"connector-{socket.gethostname()}"


class ConnectorSettings(CommonSettings):
    """Where the devices file is, who this connector is, and how it produces."""

    connector_devices_file: Path = Path("devices.yaml")
    connector_id: str = Field(default_factory=_default_connector_id, min_length=1)

    connector_linger_ms: int = Field(default=20, ge=0, le=10_000)
    # One reading of 60 values is ~3 KiB of JSON: 256 KiB batches hold a scan of a
    # whole plant, and lz4 shrinks them about 4x.
    connector_batch_size_bytes: int = Field(default=262_144, ge=16_384, le=4_194_304)
    connector_compression_type: Literal["lz4", "gzip", "none"] = "lz4"
    connector_acks: Literal["all", "1", "0"] = "all"
    # Long enough that readings buffered during a short broker outage are still delivered.
    connector_delivery_timeout_ms: int = Field(default=600_000, ge=1_000)
    connector_request_timeout_ms: int = Field(default=30_000, ge=1_000)
    connector_flush_timeout_s: float = Field(default=30.0, gt=0)

    # Store-and-forward: every reading is written to an SQLite spool before it is produced.
    # Empty dir: ~/.local/state/millstream/spool. The file is named after the connector id,
    # the bootstrap servers and the topic prefix, so two set-ups never share a spool.
    connector_spool_dir: Path | None = None
    connector_spool_max_records: int = Field(default=1_000_000, ge=1)
    connector_spool_full_policy: Literal["drop_oldest", "drop_newest"] = "drop_oldest"
    # After a restart, how far back each partition is read to find what already arrived.
    connector_spool_tail_records: int = Field(default=50_000, ge=0)
    connector_max_in_flight: int = Field(default=5_000, ge=1)

    # Prometheus /metrics on this port (0: no metrics endpoint).
    connector_metrics_port: int = Field(default=0, ge=0, le=65535)
    connector_metrics_host: str = "127.0.0.1"

    # /health/live and /health/ready on this port (0: none; connectors/health.py).
    connector_health_port: int = Field(default=0, ge=0, le=65535)
    connector_health_host: str = "127.0.0.1"
    # Not ready when Kafka acknowledged nothing, or no device was polled, for this long.
    connector_health_stall_s: float = Field(default=60.0, gt=0)

    # Commands older than this when they arrive are refused instead of run late.
    connector_command_max_age_s: float = Field(default=60.0, gt=0)

    # "i/n": poll only the devices of shard i of n (connectors/config/sharding.py); "" = all.
    connector_shard: str = Field(default="", pattern=r"^(\d{1,4}/\d{1,4})?$")

    connector_backoff_initial_s: float = Field(default=0.5, gt=0)
    connector_backoff_max_s: float = Field(default=30.0, gt=0)

    connector_log_level: LogLevel = "INFO"
    # Seconds between two statistics lines in the log (0: only at shutdown).
    connector_stats_interval_s: float = Field(default=60.0, ge=0)

    def spool_path(self) -> Path:
        """Where this connector's spool lives (see ``connector_spool_dir``)."""
        base = self.connector_spool_dir or Path.home() / ".local/state/millstream/spool"
        digest = hashlib.sha1(  # noqa: S324 - a file name, not security
            f"{self.kafka_bootstrap_servers}|{self.topic_prefix}".encode()
        ).hexdigest()[:10]
        return base / f"{self.connector_id}-{digest}.sqlite3"
