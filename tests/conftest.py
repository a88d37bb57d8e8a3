"""Session fixtures: a real Kafka broker and a real InfluxDB server for the whole test run.

They come from the same ``infra`` code as ``python -m infra up``, under a temporary run
directory on free loopback ports, and are stopped when the session ends.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from rich.console import Console

from contracts.settings import CommonSettings
from infra.bootstrap import create_millstream_topics
from infra.servers import Connection, LocalServers
from infra.settings import InfraSettings

# Fewer partitions than production keep consumer start-up quick in tests.
TEST_PARTITIONS = 3


@dataclass(frozen=True, slots=True)
class InfluxInfo:
    url: str
    token: str
    org: str
    bucket: str
    aggregates_bucket: str
    alarms_bucket: str
    audit_bucket: str


@pytest.fixture(scope="session")
def local_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServers]:
    run_dir = tmp_path_factory.mktemp("stack")
    settings = InfraSettings(
        run_dir=run_dir,
        kafka_port=0,
        influx_port=0,
        topic_prefix="millstream-session",
        stream_partitions=TEST_PARTITIONS,
    )
    servers = LocalServers(settings, console=Console(stderr=True, soft_wrap=True))
    try:
        servers.up()
        yield servers
    finally:
        servers.down()


@pytest.fixture(scope="session")
def stack_connection(local_servers: LocalServers) -> Connection:
    return local_servers.connection()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_connection: Connection) -> str:
    return stack_connection.kafka_bootstrap


@pytest.fixture(scope="session")
def influx(stack_connection: Connection) -> InfluxInfo:
    c = stack_connection
    return InfluxInfo(
        url=c.influx_url,
        token=c.influx_token,
        org=c.influx_org,
        bucket=c.influx_bucket,
        aggregates_bucket=c.influx_aggregates_bucket,
        alarms_bucket=c.influx_alarms_bucket,
        audit_bucket=c.influx_audit_bucket,
    )


@pytest.fixture(scope="session")
def make_settings(stack_connection: Connection) -> Callable[..., CommonSettings]:
    """Settings for the session's servers with a topic prefix of their own, topics created."""

    def make(*, partitions: int = TEST_PARTITIONS) -> CommonSettings:
        prefix = f"t{uuid.uuid4().hex[:10]}"
        c = stack_connection
        create_millstream_topics(c.kafka_bootstrap, prefix=prefix, stream_partitions=partitions)
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

    return make


@pytest.fixture
def common_settings(make_settings: Callable[..., CommonSettings]) -> CommonSettings:
    """Settings for one test: the session's servers and topics of its own."""
    return make_settings()


@pytest.fixture(scope="module")
def admin_key() -> str:
    """An admin API key in the guide's format, one per test module."""
    return "sk_prod_" + secrets.token_hex(12)


@pytest.fixture
def service_env(common_settings: CommonSettings) -> dict[str, str]:
    """The environment for a Millstream subprocess using ``common_settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    s = common_settings
    env.update(
        MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS=s.kafka_bootstrap_servers,
        MILLSTREAM_TOPIC_PREFIX=s.topic_prefix,
        MILLSTREAM_INFLUX_URL=s.influx_url,
        MILLSTREAM_INFLUX_TOKEN=s.influx_token.get_secret_value(),
        MILLSTREAM_INFLUX_ORG=s.influx_org,
        MILLSTREAM_INFLUX_BUCKET=s.influx_bucket,
        MILLSTREAM_INFLUX_AGGREGATES_BUCKET=s.influx_aggregates_bucket,
        MILLSTREAM_INFLUX_ALARMS_BUCKET=s.influx_alarms_bucket,
        MILLSTREAM_INFLUX_AUDIT_BUCKET=s.influx_audit_bucket,
        PYTHONUNBUFFERED="1",
    )
    return env
