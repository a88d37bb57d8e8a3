"""Asking the broker how the readings topic is laid out, once at start-up."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from contracts.errors import ConfigError
from kafka_edge.retry import RetryPolicy, poll_until_blocking

if TYPE_CHECKING:
    from pipeline.settings import PipelineSettings

logger = logging.getLogger(__name__)


def readings_partitions(settings: PipelineSettings) -> int:
    """Partition count of the readings topic; ConfigError if the topic is not there."""
    timeout_s = settings.pipeline_kafka_timeout_ms / 1000
    from kafka.errors import KafkaError

    from kafka_edge.sync_clients import kafka_consumer

    topic = settings.topics.readings
    kafka = settings.kafka()
    try:
        consumer = kafka_consumer(
            kafka,
            request_timeout_ms=int(timeout_s * 1000) + 1000,
            allow_auto_create_topics=False,
        )
    except KafkaError as exc:
        raise ConfigError(
            f"kafka_bootstrap_servers: no broker reachable at {kafka.servers} ({exc})"
        ) from exc
    try:
        partitions = poll_until_blocking(
            lambda: consumer.partitions_for_topic(topic) or None,
            policy=RetryPolicy(initial_s=0.1, max_s=0.5, deadline_s=timeout_s),
        )
    finally:
        consumer.close()
    if partitions:
        logger.info("readings topic=%s partitions=%d", topic, len(partitions))
        return len(partitions)
    raise ConfigError(
        f"topic_prefix: topic {topic} does not exist on {kafka.servers}; create the topics "
        "(python -m infra bootstrap) or set MILLSTREAM_PIPELINE_PARTITIONS"
    )
