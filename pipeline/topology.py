"""Asking the broker how the readings topic is laid out, once at start-up."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from contracts.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.settings import PipelineSettings

logger = logging.getLogger(__name__)


def readings_partitions(settings: PipelineSettings) -> int:
    """Partition count of the readings topic; ConfigError if the topic is not there."""
    timeout_s = settings.pipeline_kafka_timeout_ms / 1000
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    topic = settings.topics.readings
    bootstrap = settings.kafka_bootstrap_servers
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=[h.strip() for h in bootstrap.split(",") if h.strip()],
            request_timeout_ms=int(timeout_s * 1000) + 1000,
            allow_auto_create_topics=False,
        )
    except KafkaError as exc:
        raise ConfigError(
            f"kafka_bootstrap_servers: no broker reachable at {bootstrap} ({exc})"
        ) from exc
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                logger.info("readings topic=%s partitions=%d", topic, len(partitions))
                return len(partitions)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    finally:
        consumer.close()
    raise ConfigError(
        f"topic_prefix: topic {topic} does not exist on {bootstrap}; create the topics "
        "(python -m infra bootstrap) or set MILLSTREAM_PIPELINE_PARTITIONS"
    )
