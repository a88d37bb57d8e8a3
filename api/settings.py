"""Settings of the API process, read from ``MILLSTREAM_API_*`` environment variables (the
connection fields it shares with the other services from their ``MILLSTREAM_*`` names).

Built once in ``api.__main__`` (or by a test) and passed to :func:`api.app.create_app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import AliasGenerator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from api.env_names import deprecated_names, env_names
from contracts.settings import CommonSettings, LogLevel

# Values people copy from examples; refused as the admin key.
_PLACEHOLDER_KEYS = frozenset(("changeme", "change-me", "secret", "password", "admin", "apikey"))
# Words that mark a value as typed by hand from an example, wherever they appear.
_PLACEHOLDER_WORDS = ("changeme", "change-me", "password", "secret", "example", "placeholder")


def is_placeholder(secret: str) -> bool:
    """A value copied from an example: a known placeholder, one containing a placeholder
    word (``my-password-123``), or one of fewer than four distinct characters."""
    lowered = secret.lower()
    return (
        lowered in _PLACEHOLDER_KEYS
        or any(word in lowered for word in _PLACEHOLDER_WORDS)
        or len(set(secret)) < 4
    )


class ApiSettings(CommonSettings):
    """Where the API listens and how it bounds its work.

    Every field is read from ``MILLSTREAM_API_<FIELD>`` (``MILLSTREAM_API_PORT=8080``,
    ``MILLSTREAM_API_MAX_BATCH_READINGS=5000``); the fields of :class:`CommonSettings` from
    their common names (``MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS``). See :mod:`api.env_names`.
    """

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=env_names), validate_by_name=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            deprecated_names(settings_cls),
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    # The bootstrap admin key: the API makes sure it is a valid admin key at start-up.
    admin_api_key: SecretStr | None = None
    log_level: LogLevel = "INFO"

    # Kafka
    kafka_produce_timeout_s: float = Field(default=10.0, gt=0)
    startup_timeout_s: float = Field(default=30.0, gt=0)
    ready_check_timeout_s: float = Field(default=3.0, gt=0)
    # How long the producer holds a record to batch it with others. Every write waits for
    # Kafka's ack, so a linger adds to each request's latency; concurrent requests still
    # share batches while a request is in flight.
    kafka_linger_ms: int = Field(default=0, ge=0, le=1000)

    # POST /api/readings
    max_batch_readings: int = Field(default=10_000, ge=1)
    # A reading's time must lie within [now - the telemetry bucket's retention
    # (influx_retention_days, 0: forever), now + max_future]: InfluxDB drops anything older.
    reading_max_future_s: float = Field(default=3_600, ge=0)
    reading_max_sensors: int = Field(default=256, ge=1)
    reading_max_text: int = Field(default=128, ge=1)
    # Any request body; larger is 413, refused before it is read whole.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)

    # GET /api/machines/{id}/readings
    readings_default_limit: int = Field(default=10_000, ge=1)
    readings_max_limit: int = Field(default=100_000, ge=1)
    influx_query_timeout_s: float = Field(default=30.0, gt=0)
    # POST /api/machines/{id}/thresholds/{sensor}/backtest: a range holding more readings is
    # refused before they are fetched (a week at 1 Hz is 604,800).
    api_backtest_max_readings: int = Field(default=2_000_000, ge=1)

    # GET /api/machines/{id}: live values come from the newest points within the lookback;
    # a machine with no reading newer than offline_after is "offline".
    machine_live_lookback_s: float = Field(default=3_600, gt=0, le=30 * 86_400)
    machine_offline_after_s: float = Field(default=60, gt=0)

    # WebSocket /live
    live_queue_frames: int = Field(default=1_000, ge=2)
    live_auth_timeout_s: float = Field(default=10.0, gt=0)
    live_max_subscriptions: int = Field(default=1_000, ge=1)
    # Open /live sockets per credential (API key or user); more are closed with 1013.
    live_max_connections_per_credential: int = Field(default=20, ge=1)
    # A client message longer than this is refused (close 1009) before it is parsed.
    live_max_message_bytes: int = Field(default=4_096, ge=64)
    # How often each session checks that its credential is still valid (revoked: 1008).
    live_recheck_s: float = Field(default=1.0, gt=0, le=60)

    # Deployment mode: ``production`` refuses weak secrets and plain HTTP off loopback
    # (see api.security.startup).
    env: Literal["development", "production"] = "development"

    # Users and JWT (POST /api/auth/login)
    jwt_secret: SecretStr | None = None
    jwt_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    admin_username: str = Field(default="admin", min_length=1, max_length=64)
    admin_password: SecretStr | None = None

    # Rate limits, ``limits`` notation ("200/second", "1000/minute;50/second"), per
    # credential and route class; login also per client address.
    rate_limit_enabled: bool = True
    rate_limit_storage_uri: str = "memory://"
    rate_limit_read: str = "200/second"
    rate_limit_write: str = "100/second"
    rate_limit_ingest: str = "5000/second"
    # Failed logins per client address and username: a guesser is slowed, the user logging
    # in from elsewhere is not.
    rate_limit_login: str = "10/minute"
    # Login attempts per client address, failed or not.
    rate_limit_login_ip: str = "60/minute"
    # Failed logins per username from all addresses together: the cap on a guesser spread
    # over many addresses (past it, the user waits too).
    rate_limit_login_user: str = "100/hour"
    # Wrong API keys or tokens per client address; past it every credential from that
    # address gets 429 until the window allows more (guessing keys stays slow).
    rate_limit_auth_failures: str = "60/minute"

    # Audit: one record per request, batched to Kafka and InfluxDB
    audit_enabled: bool = True
    audit_queue_records: int = Field(default=10_000, ge=1)
    audit_batch_records: int = Field(default=500, ge=1)
    audit_flush_interval_s: float = Field(default=1.0, gt=0)

    # HTTPS
    api_tls_cert: Path | None = None
    api_tls_key: Path | None = None
    api_allow_insecure_http: bool = False

    @field_validator("admin_api_key", "jwt_secret", "admin_password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value():
            return None
        return value

    @field_validator("admin_api_key")
    @classmethod
    def _refuse_weak_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if is_placeholder(secret):
            raise ValueError("refusing a placeholder value; use a random secret")
        if len(secret) < 12:
            raise ValueError("must be at least 12 characters")
        return value

    @field_validator(
        "rate_limit_read",
        "rate_limit_write",
        "rate_limit_ingest",
        "rate_limit_login",
        "rate_limit_login_ip",
        "rate_limit_login_user",
        "rate_limit_auth_failures",
    )
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate limit like '100/second'") from exc
        return value

    @model_validator(mode="after")
    def _tls_cert_and_key_together(self) -> ApiSettings:
        if (self.api_tls_cert is None) != (self.api_tls_key is None):
            raise ValueError("api_tls_cert and api_tls_key: set both or neither")
        return self

    @property
    def reading_max_age_s(self) -> float | None:
        """The oldest reading InfluxDB keeps, in seconds before now; None: any age."""
        days = self.influx_retention_days
        return days * 86_400.0 if days else None

    @property
    def tls(self) -> bool:
        return self.api_tls_cert is not None

    @model_validator(mode="after")
    def _default_limit_within_max(self) -> ApiSettings:
        if self.readings_default_limit > self.readings_max_limit:
            raise ValueError(
                "readings_default_limit: must not exceed readings_max_limit "
                f"({self.readings_max_limit})"
            )
        return self

    def base_url(self) -> str:
        host = f"[{self.api_host}]" if ":" in self.api_host else self.api_host
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.api_port}"
