"""The local servers the infra package runs are real and bootstrapped as designed."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from contracts.topics import TopicNames
from infra import processes
from infra.servers import Connection, LocalServers

pytestmark = pytest.mark.integration


def test_topics_exist_with_compaction_for_config_topics(stack_connection: Connection) -> None:
    names = TopicNames.with_prefix(stack_connection.topic_prefix)
    admin = KafkaAdminClient(bootstrap_servers=stack_connection.kafka_bootstrap)
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


def test_influx_buckets_have_their_retention(stack_connection: Connection) -> None:
    from influxdb_client import InfluxDBClient

    c = stack_connection
    with InfluxDBClient(url=c.influx_url, token=c.influx_token, org=c.influx_org) as client:
        api = client.buckets_api()
        raw = api.find_bucket_by_name(c.influx_bucket)
        assert raw.retention_rules[0].every_seconds == 30 * 86400
        for name in (c.influx_aggregates_bucket, c.influx_alarms_bucket, c.influx_audit_bucket):
            bucket = api.find_bucket_by_name(name)
            assert bucket.retention_rules[0].every_seconds == 400 * 86400, name


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
