"""The pure parts of the local Kafka cluster: replication rule, node names, configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.topics import Replication
from infra import kafka_server
from infra.servers import Connection
from infra.settings import InfraSettings


@pytest.mark.parametrize(
    ("brokers", "factor", "min_insync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)]
)
def test_replication_follows_the_broker_count(brokers: int, factor: int, min_insync: int) -> None:
    assert Replication.for_brokers(brokers) == Replication(factor, min_insync)


def test_no_replication_without_brokers() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Replication.for_brokers(0)


def test_one_broker_keeps_its_name_and_a_cluster_names_its_central_nodes() -> None:
    assert kafka_server.node_names(1) == ["kafka"]
    assert kafka_server.node_names(3) == ["kafka-central-1", "kafka-central-2", "kafka-central-3"]


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_a_cluster_node_votes_in_a_quorum_of_all_nodes_and_replicates_internal_topics() -> None:
    nodes = [kafka_server.KafkaNode(f"n{i}", i, 9000 + i, 9100 + i) for i in (1, 2, 3)]
    props = _props(
        kafka_server.server_properties(
            host="127.0.0.1",
            port=9002,
            controller_port=9102,
            log_dir=Path("/tmp/x"),
            node_id=2,
            voters=kafka_server.quorum_voters("127.0.0.1", nodes),
            replication=Replication.for_brokers(3),
        )
    )
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    )
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["min.insync.replicas"] == "2"
    assert props["default.replication.factor"] == "3"


def test_a_single_broker_is_configured_as_before() -> None:
    props = _props(
        kafka_server.server_properties(
            host="127.0.0.1", port=9092, controller_port=9093, log_dir=Path("/tmp/x")
        )
    )
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert "broker.session.timeout.ms" not in props


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {kafka_server.new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def _conn(**extra: object) -> Connection:
    return Connection(
        kafka_bootstrap="127.0.0.1:1",
        influx_url="http://127.0.0.1:2",
        influx_token="t",
        influx_org="o",
        influx_bucket="b",
        influx_aggregates_bucket="a",
        influx_alarms_bucket="al",
        influx_audit_bucket="au",
        topic_prefix="p",
        **extra,  # type: ignore[arg-type]
    )


def test_connection_env_names_redis_and_replication_only_when_configured() -> None:
    plain = _conn().env()
    assert "MILLSTREAM_API_RATE_LIMIT_STORAGE_URI" not in plain
    assert "MILLSTREAM_PIPELINE_REPLICATION_FACTOR" not in plain
    env = _conn(rate_limit_storage_uri="redis://127.0.0.1:6379/0", replication_factor=3).env()
    assert env["MILLSTREAM_API_RATE_LIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert env["MILLSTREAM_PIPELINE_REPLICATION_FACTOR"] == "3"


def test_redis_is_on_with_the_flag_or_a_port(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("MILLSTREAM_REDIS", "MILLSTREAM_REDIS_PORT", "MILLSTREAM_KAFKA_BROKERS"):
        monkeypatch.delenv(key, raising=False)
    assert not InfraSettings().redis_enabled
    monkeypatch.setenv("MILLSTREAM_REDIS", "1")
    monkeypatch.setenv("MILLSTREAM_KAFKA_BROKERS", "3")
    settings = InfraSettings()
    assert settings.redis_enabled and settings.kafka_brokers == 3
    monkeypatch.delenv("MILLSTREAM_REDIS")
    monkeypatch.setenv("MILLSTREAM_REDIS_PORT", "6390")
    assert InfraSettings().redis_enabled
