"""An observer watches a topic from its start without joining a group or committing.

The clients are built without a broker: kafka-python is given its API version so that it
does not ask one (it still opens a connection, to a listening socket that never answers),
and aiokafka connects only when started.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from kafka_edge.aio_clients import aio_observer
from kafka_edge.connection import KafkaConnection
from kafka_edge.sync_clients import kafka_observer

NOWHERE = KafkaConnection.plain("127.0.0.1:9")


@pytest.fixture
def silent_listener() -> Iterator[KafkaConnection]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield KafkaConnection.plain(f"127.0.0.1:{server.getsockname()[1]}")


def test_a_kafka_python_observer_reads_from_the_start_outside_any_group(
    silent_listener: KafkaConnection,
) -> None:
    consumer = kafka_observer(
        silent_listener, "readings", api_version=(3, 0), consumer_timeout_ms=5
    )
    try:
        assert consumer.subscription() == {"readings"}
        assert consumer.config["group_id"] is None
        assert consumer.config["auto_offset_reset"] == "earliest"
        assert consumer.config["enable_auto_commit"] is False
        assert consumer.config["consumer_timeout_ms"] == 5
    finally:
        consumer.close()


async def test_an_aiokafka_observer_reads_from_the_start_outside_any_group() -> None:
    consumer = aio_observer(NOWHERE, fetch_max_wait_ms=50)
    try:
        # aiokafka keeps its options private; these are the ones it was given.
        assert consumer._group_id is None
        assert consumer._auto_offset_reset == "earliest"
        assert consumer._enable_auto_commit is False
        assert consumer._fetch_max_wait_ms == 50
    finally:
        await consumer.stop()
