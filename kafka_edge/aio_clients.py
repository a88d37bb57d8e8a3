"""aiokafka clients (API, pipeline): every one is built here; the caller starts it."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from kafka_edge.connection import OBSERVER_OPTIONS, KafkaConnection, ProducerSettings


def aio_producer(
    connection: KafkaConnection,
    producer: ProducerSettings,
    *,
    client_id: str | None = None,
    **tuning: Any,
) -> AIOKafkaProducer:
    """An ``AIOKafkaProducer``; ``tuning`` passes e.g. ``request_timeout_ms``."""
    return AIOKafkaProducer(
        **connection.client_kwargs(client_id), **producer.client_kwargs(), **tuning
    )


def aio_consumer(
    connection: KafkaConnection, *topics: str, client_id: str | None = None, **options: Any
) -> AIOKafkaConsumer:
    """An ``AIOKafkaConsumer`` (subscribed to ``topics`` if any); ``options`` passes group,
    offset and fetch options (``group_id``, ``auto_offset_reset``, ...)."""
    return AIOKafkaConsumer(*topics, **connection.client_kwargs(client_id), **options)


def aio_observer(
    connection: KafkaConnection, *topics: str, client_id: str | None = None, **options: Any
) -> AIOKafkaConsumer:
    """An ``AIOKafkaConsumer`` outside any group that reads ``topics`` (without any, the
    caller assigns partitions) from their earliest offset and commits nothing: it watches a
    topic without taking a share of its partitions or moving a group's offsets. ``options``
    passes e.g. ``fetch_max_wait_ms``."""
    return aio_consumer(connection, *topics, client_id=client_id, **{**OBSERVER_OPTIONS, **options})


def aio_admin(
    connection: KafkaConnection, *, client_id: str | None = None, **options: Any
) -> AIOKafkaAdminClient:
    """An ``AIOKafkaAdminClient``."""
    return AIOKafkaAdminClient(**connection.client_kwargs(client_id), **options)


def aio_client(connection: KafkaConnection, *, client_id: str | None = None) -> AIOKafkaClient:
    """A bare ``AIOKafkaClient``, for metadata without a consumer group."""
    return AIOKafkaClient(**connection.client_kwargs(client_id))
