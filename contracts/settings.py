"""Connection settings every deployable shares, read from ``MILLSTREAM_*`` variables.

Each deployable subclasses :class:`CommonSettings` with its own fields, builds the
instance in its ``__main__`` and passes it down; nothing here is built at import time.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import TopicNames


class CommonSettings(BaseSettings):
    """Where Kafka and InfluxDB are, and the topic prefix."""

    model_config = SettingsConfigDict(env_prefix="MILLSTREAM_", frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "millstream"
    influx_url: str = "http://127.0.0.1:8086"
    influx_token: SecretStr = SecretStr("")
    influx_org: str = "millstream"
    influx_bucket: str = "telemetry"
    influx_rollup_bucket: str = "telemetry_rollups"

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)
