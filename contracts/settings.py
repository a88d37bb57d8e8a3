"""Connection settings every deployable shares, read from ``MILLSTREAM_*`` variables.

Each deployable subclasses :class:`CommonSettings` with its own fields, builds the
instance in its ``__main__`` and passes it down; nothing here is built at import time.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.errors import ConfigError
from contracts.influx_schema import AGGREGATES_BUCKET, ALARMS_BUCKET, AUDIT_BUCKET, READINGS_BUCKET
from contracts.influx_servers import InfluxServer, PlantServer, PlantServers, parse_plant_map
from contracts.topics import TopicNames

ENV_PREFIX = "MILLSTREAM_"
S = TypeVar("S", bound=BaseSettings)


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


# Every service's log level: given in either case (``info`` or ``INFO``), held in upper case.
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
]


# The setting that bounds how old a reading may be: the telemetry bucket's retention.
TELEMETRY_RETENTION_VAR = f"{ENV_PREFIX}INFLUX_RETENTION_DAYS"


class BucketSettings(BaseSettings):
    """The InfluxDB org and buckets, each with its retention in days (0 keeps forever).

    ``infra`` creates the buckets with these retentions; the API refuses a reading older
    than the telemetry bucket's, which InfluxDB would drop.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    influx_org: str = "millstream"
    influx_bucket: str = READINGS_BUCKET
    # Buckets, named for what they hold (see contracts.influx_schema).
    influx_aggregates_bucket: str = AGGREGATES_BUCKET
    influx_alarms_bucket: str = ALARMS_BUCKET
    influx_audit_bucket: str = AUDIT_BUCKET
    # Raw readings, and the aggregates and alarm events derived from them, are kept forever
    # by default, so history of any age can be imported whole; the audit log 400 days.
    influx_retention_days: int = Field(default=0, ge=0)
    influx_aggregates_retention_days: int = Field(default=0, ge=0)
    influx_alarms_retention_days: int = Field(default=0, ge=0)
    influx_audit_retention_days: int = Field(default=400, ge=0)

    def bucket_retention_days(self) -> dict[str, int]:
        """Every bucket Millstream writes, with its retention in days (0: forever)."""
        return {
            self.influx_bucket: self.influx_retention_days,
            self.influx_aggregates_bucket: self.influx_aggregates_retention_days,
            self.influx_alarms_bucket: self.influx_alarms_retention_days,
            self.influx_audit_bucket: self.influx_audit_retention_days,
        }


class CommonSettings(BucketSettings):
    """Where Kafka and InfluxDB are, the topic prefix, and the buckets."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # A managed cluster's TLS and SASL (kafka_edge.connection); the default is plain.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    topic_prefix: str = "millstream"
    influx_url: str = "http://127.0.0.1:8086"
    influx_token: SecretStr = SecretStr("")
    # Plant -> the InfluxDB holding its points (contracts.influx_servers); others: the above.
    influx_plants: Annotated[dict[str, PlantServer], NoDecode, BeforeValidator(parse_plant_map)] = (
        Field(default_factory=dict)
    )

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)

    def influx_servers(self) -> PlantServers:
        """The default InfluxDB and each mapped plant's."""
        default = InfluxServer(
            url=self.influx_url, org=self.influx_org, token=self.influx_token.get_secret_value()
        )
        return PlantServers.of(default, self.influx_plants)


def load_settings(cls: type[S]) -> S:
    """Build ``cls`` from the environment; bad values raise :class:`ConfigError` naming the
    variables, e.g. ``MILLSTREAM_API_PORT: Input should be a valid integer``."""
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(f"{_variable(error['loc'])}: {error['msg']}" for error in exc.errors())
        raise ConfigError(problems) from exc


def _variable(loc: tuple[int | str, ...]) -> str:
    """The variable an error is about: a field's name, or the variable name itself when the
    field reads an alias (``MILLSTREAM_API_PORT``)."""
    name = "_".join(str(part) for part in loc).upper()
    return name if name.startswith(ENV_PREFIX) else f"{ENV_PREFIX}{name}"
