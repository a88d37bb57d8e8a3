"""kafka-python clients (connectors, infra): every one is built here.

The constructors block until the cluster answers (or fail with kafka-python's
``NoBrokersAvailable``); call them from a worker thread inside an event loop.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.partitioner import DefaultPartitioner

from kafka_edge.connection import OBSERVER_OPTIONS, KafkaConnection, ProducerSettings
from kafka_edge.partitioner import positive_hash

# kafka-python retries a record until its delivery timeout; this is "no other limit".
RETRY_UNTIL_DELIVERY_TIMEOUT = 2_147_483_647
# Bound on the keys whose hash the partitioner remembers; beyond it the memory restarts.
MAX_REMEMBERED_KEYS = 65_536


class KeyHashCachingPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's default partitioner with the murmur2 hash of each key remembered.

    A connector sends every reading keyed by its machine id, a few hundred distinct keys
    at most; kafka-python's own partitioner hashes every key again in pure Python and
    lists the topic's partitions twice per record (about 10 us, a few percent of a
    connector polling 200 devices at 50 Hz). The partition is the same
    (:func:`kafka_edge.partitioner.partition_for`).
    """

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        if serialized_key is None:
            return int(
                super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            )
        partitions = cluster.partitions_for_topic(topic)
        if partitions is None:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        hashed = self._hashes.get(serialized_key)
        if hashed is None:
            if len(self._hashes) >= MAX_REMEMBERED_KEYS:
                self._hashes.clear()
            hashed = positive_hash(serialized_key)
            self._hashes[serialized_key] = hashed
        ordered = sorted(partitions)
        return int(ordered[hashed % len(ordered)])


def kafka_producer(
    connection: KafkaConnection,
    producer: ProducerSettings,
    *,
    client_id: str | None = None,
    **tuning: Any,
) -> Any:
    """A ``KafkaProducer`` with the key-hash-caching partitioner; ``tuning`` passes
    batching and timeout options (``batch_size``, ``delivery_timeout_ms``, ...)."""
    options: dict[str, Any] = {
        "retries": RETRY_UNTIL_DELIVERY_TIMEOUT,
        "partitioner": KeyHashCachingPartitioner(),
    }
    options.update(tuning)
    return KafkaProducer(
        **connection.client_kwargs(client_id), **producer.client_kwargs(), **options
    )


def kafka_consumer(
    connection: KafkaConnection, *topics: str, client_id: str | None = None, **options: Any
) -> Any:
    """A ``KafkaConsumer`` (subscribed to ``topics`` if any); ``options`` passes group,
    offset and timeout options (``group_id``, ``auto_offset_reset``, ...)."""
    return KafkaConsumer(*topics, **connection.client_kwargs(client_id), **options)


def kafka_observer(
    connection: KafkaConnection, *topics: str, client_id: str | None = None, **options: Any
) -> Any:
    """A ``KafkaConsumer`` outside any group that reads ``topics`` (without any, the
    caller assigns partitions) from their earliest offset and commits nothing: it watches a
    topic without taking a share of its partitions or moving a group's offsets. ``options``
    passes e.g. ``consumer_timeout_ms`` or ``fetch_max_wait_ms``."""
    return kafka_consumer(
        connection, *topics, client_id=client_id, **{**OBSERVER_OPTIONS, **options}
    )


def kafka_admin(
    connection: KafkaConnection, *, client_id: str | None = None, **options: Any
) -> Any:
    """A ``KafkaAdminClient``; ``options`` passes e.g. ``request_timeout_ms``."""
    return KafkaAdminClient(**connection.client_kwargs(client_id), **options)
