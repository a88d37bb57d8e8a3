"""The local servers the infra package runs are real and bootstrapped as designed."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from contracts.topics import TopicNames
from infra import processes
from infra.bootstrap import ensure_buckets
from infra.servers import Connection, LocalServers
from kafka_edge.connection import KafkaConnection
from kafka_edge.sync_clients import kafka_admin

pytestmark = pytest.mark.integration


def test_topics_exist_with_compaction_for_config_topics(stack_connection: Connection) -> None:
    names = TopicNames.with_prefix(stack_connection.topic_prefix)
    admin = kafka_admin(KafkaConnection.plain(stack_connection.kafka_bootstrap))
    try:
        existing = set(admin.list_topics())
        assert set(names.all()) <= existing
        configs = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, names.machines),
                ConfigResource(ConfigResourceType.TOPIC, names.readings),
            ]
        )
        by_topic = configs["topic"]
        assert by_topic[names.machines]["cleanup.policy"]["value"] == "compact"
        # The readings topic keeps the broker default, "delete" (time-based retention).
        assert "cleanup.policy" not in by_topic[names.readings]
    finally:
        admin.close()


def _retention_s(bucket: Any) -> int:
    """A bucket's retention in seconds; 0 (or no rule) keeps forever."""
    return bucket.retention_rules[0].every_seconds if bucket.retention_rules else 0


def test_influx_buckets_have_their_retention(stack_connection: Connection) -> None:
    from influxdb_client import InfluxDBClient

    c = stack_connection
    with InfluxDBClient(url=c.influx_url, token=c.influx_token, org=c.influx_org) as client:
        api = client.buckets_api()
        # Readings and what derives from them are kept forever by default (0), so history
        # of any age is stored whole; the audit log 400 days.
        for name in (c.influx_bucket, c.influx_aggregates_bucket, c.influx_alarms_bucket):
            assert _retention_s(api.find_bucket_by_name(name)) == 0, name
        assert _retention_s(api.find_bucket_by_name(c.influx_audit_bucket)) == 400 * 86400


def test_ensure_buckets_sets_the_configured_retention_of_an_existing_bucket(
    stack_connection: Connection,
) -> None:
    from influxdb_client import InfluxDBClient

    c = stack_connection
    name = f"retention-{uuid.uuid4().hex[:8]}"
    ensure_buckets(c.influx_url, c.influx_token, org=c.influx_org, retention_days={name: 30})
    with InfluxDBClient(url=c.influx_url, token=c.influx_token, org=c.influx_org) as client:
        api = client.buckets_api()
        try:
            assert _retention_s(api.find_bucket_by_name(name)) == 30 * 86400
            ensure_buckets(c.influx_url, c.influx_token, org=c.influx_org, retention_days={name: 0})
            assert _retention_s(api.find_bucket_by_name(name)) == 0
        finally:
            api.delete_bucket(api.find_bucket_by_name(name))


def test_influx_drops_only_points_older_than_the_retention(stack_connection: Connection) -> None:
    """What the API's 422 rests on: InfluxDB refuses a point older than its bucket keeps
    (so the API refuses it first) and keeps an old point in a bucket kept forever."""
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS
    from influxdb_client.rest import ApiException

    c = stack_connection
    month = f"month-{uuid.uuid4().hex[:8]}"
    ensure_buckets(c.influx_url, c.influx_token, org=c.influx_org, retention_days={month: 30})
    seed_ns = 1_766_241_000_000_000_000  # 2025-12-20T14:30:00Z, the guide's reading
    line = f"retention_probe,machine_id=42 temperature_c=67.5 {seed_ns}"
    with InfluxDBClient(url=c.influx_url, token=c.influx_token, org=c.influx_org) as client:
        api = client.buckets_api()
        write = client.write_api(write_options=SYNCHRONOUS)
        try:
            if time.time() - seed_ns / 1e9 > 30 * 86400:
                with pytest.raises(ApiException) as refused:
                    write.write(bucket=month, record=line)
                assert refused.value.status == 422
                assert "retention" in str(refused.value.body)
            write.write(bucket=c.influx_bucket, record=line)
            tables = client.query_api().query(
                f'from(bucket: "{c.influx_bucket}") '
                "|> range(start: 2025-12-20T00:00:00Z, stop: 2025-12-21T00:00:00Z) "
                '|> filter(fn: (r) => r._measurement == "retention_probe")'
            )
            assert [r.get_value() for t in tables for r in t.records] == [67.5]
        finally:
            api.delete_bucket(api.find_bucket_by_name(month))


def test_write_and_query_with_flux(stack_connection: Connection) -> None:
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    c = stack_connection
    with InfluxDBClient(url=c.influx_url, token=c.influx_token, org=c.influx_org) as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=c.influx_bucket, record="infra_probe,machine_id=probe value=1.5"
        )
        tables = client.query_api().query(
            f'from(bucket: "{c.influx_bucket}") |> range(start: -5m) '
            '|> filter(fn: (r) => r._measurement == "infra_probe")'
        )
        values = [record.get_value() for table in tables for record in table.records]
    assert values == [1.5]


def test_up_twice_keeps_the_running_servers(local_servers: LocalServers) -> None:
    before = {n: processes.read_pid(local_servers.run_dir, n) for n in ("kafka", "influxdb")}
    first = local_servers.connection()
    again = local_servers.up()
    after = {n: processes.read_pid(local_servers.run_dir, n) for n in ("kafka", "influxdb")}
    assert again == first
    assert before == after and None not in after.values()
    status = local_servers.status()
    assert status["kafka"].startswith("running") and status["influxdb"].startswith("running")
