"""Creating Millstream's Kafka topics and InfluxDB buckets; safe to run again."""

from __future__ import annotations

import logging
from typing import Any

from contracts.topics import Replication, TopicNames, TopicSpec, topic_specs
from infra.errors import InfraError
from kafka_edge.connection import KafkaConnection
from kafka_edge.retry import RetryPolicy, poll_until_blocking, retry_blocking

logger = logging.getLogger(__name__)


def create_topics(
    kafka: KafkaConnection | str,
    specs: list[TopicSpec],
    *,
    replication: Replication | None = None,
) -> list[str]:
    """Create the missing topics; return the names created. ``kafka`` as a string is the
    plain listener at that ``host:port[,host:port...]`` (the local servers).

    ``replication`` defaults to what the cluster's broker count calls for
    (:meth:`Replication.for_brokers`)."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from kafka_edge.sync_clients import kafka_admin

    if isinstance(kafka, str):
        kafka = KafkaConnection.plain(kafka)
    admin = kafka_admin(kafka, request_timeout_ms=15000)
    try:
        if replication is None:
            replication = Replication.for_brokers(broker_count(admin))
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        created: list[str] = []
        for spec in missing:
            configs = {"cleanup.policy": "compact"} if spec.compacted else {}
            if spec.retention_ms is not None:
                configs["retention.ms"] = str(spec.retention_ms)
            if replication.factor > 1:
                configs["min.insync.replicas"] = str(replication.min_insync)
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            spec.name, spec.partitions, replication.factor, topic_configs=configs
                        )
                    ],
                    timeout_ms=15000,
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            logger.info("created topics=%s", ",".join(created))
        _wait_visible(admin, {spec.name for spec in specs})
        return created
    finally:
        admin.close()


def broker_count(admin: Any) -> int:
    """How many brokers the cluster behind ``admin`` has registered."""
    return max(1, len(admin.describe_cluster().get("brokers", ())))


def _wait_visible(admin: Any, names: set[str], *, timeout_s: float = 15.0) -> None:
    """Wait until the broker's metadata lists every topic, so clients can use them at once."""
    missing = names

    def all_visible() -> bool | None:
        nonlocal missing
        missing = names - set(admin.list_topics())
        return True if not missing else None

    if poll_until_blocking(all_visible, policy=RetryPolicy.fixed(0.2, deadline_s=timeout_s)):
        return
    raise InfraError(f"topics not visible after {timeout_s:.0f}s: {sorted(missing)}")


def create_millstream_topics(
    kafka: KafkaConnection | str,
    *,
    prefix: str,
    stream_partitions: int,
    replication: Replication | None = None,
) -> list[str]:
    specs = topic_specs(TopicNames.with_prefix(prefix), stream_partitions=stream_partitions)
    return create_topics(kafka, specs, replication=replication)


def create_millstream_topics_on_start(
    bootstrap: str, *, prefix: str, stream_partitions: int, replication: Replication, what: str
) -> list[str]:
    """:func:`create_millstream_topics` on servers that have just started, retried for up
    to 90 s: a new broker may be slow to list new topics on a busy host, and a new cluster's
    admin client may learn of the controller before it knows the controller's address."""
    from kafka.errors import KafkaError

    result: list[str] = retry_blocking(
        lambda: create_millstream_topics(
            bootstrap,
            prefix=prefix,
            stream_partitions=stream_partitions,
            replication=replication,
        ),
        policy=RetryPolicy(initial_s=1.0, max_s=5.0, deadline_s=90.0),
        what=f"creating the topics of {what}",
        retry_on=(InfraError, KafkaError),
    )
    return result


def ensure_buckets(url: str, token: str, *, org: str, retention_days: dict[str, int]) -> None:
    """Create each bucket with its retention (days, 0 keeps forever), or set the retention
    of a bucket that exists with another, so InfluxDB keeps what the API accepts."""
    from influxdb_client import BucketRetentionRules, InfluxDBClient

    with InfluxDBClient(url=url, token=token, org=org) as client:
        api = client.buckets_api()
        for name, days in retention_days.items():
            rules = [BucketRetentionRules(type="expire", every_seconds=days * 86400)]
            bucket = api.find_bucket_by_name(name)
            if bucket is None:
                api.create_bucket(bucket_name=name, org=org, retention_rules=rules)
                logger.info("created bucket=%s retention_days=%d", name, days)
                continue
            current = bucket.retention_rules[0].every_seconds if bucket.retention_rules else 0
            if current != days * 86400:
                bucket.retention_rules = rules
                api.update_bucket(bucket=bucket)
                logger.info("bucket=%s retention_days=%d (was %d)", name, days, current // 86400)
