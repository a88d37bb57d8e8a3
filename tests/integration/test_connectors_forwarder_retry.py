"""The forwarder on a real broker when a send fails before leaving: a retriable error (no
partitions known for the topic within ``max_block_ms``, as while a restarted broker still
answers metadata with errors) keeps the reading in the spool and sends it again later; only
a record that can never be delivered is refused."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from pathlib import Path

import pytest
from kafka.admin import NewTopic

from connectors.config.settings import ConnectorSettings
from connectors.forwarding.forwarder import Forwarder
from connectors.forwarding.producer import FORWARDER_MAX_BLOCK_MS, build_kafka_producer
from connectors.forwarding.spool import Spool
from contracts.settings import CommonSettings
from kafka_edge.connection import KafkaConnection
from kafka_edge.sync_clients import kafka_admin, kafka_observer

pytestmark = pytest.mark.integration


async def test_a_send_without_metadata_is_retried_not_refused(
    kafka_bootstrap: str, common_settings: CommonSettings, tmp_path: Path
) -> None:
    """The producer is built as the connector builds its forwarder's: a send that finds no
    partitions gives up within about a second (not kafka-python's 60 s, which would freeze
    the polling on the same event loop), and the reading stays spooled."""
    topic = f"late-{uuid.uuid4().hex[:8]}"  # not created yet: no metadata for it
    spool = Spool(tmp_path / "s.sqlite3", max_records=100)
    spool.append([("m", 1, topic, b"m", b'{"seq": 1}')])
    settings = ConnectorSettings(**common_settings.model_dump(), connector_id="retry-test")
    factory = functools.partial(build_kafka_producer, settings, max_block_ms=FORWARDER_MAX_BLOCK_MS)

    forwarder = Forwarder(spool, producer_factory=factory)
    await forwarder.start(await asyncio.to_thread(factory))
    try:
        began = time.monotonic()
        assert forwarder.send_spooled() == 0
        assert time.monotonic() - began < 3 * FORWARDER_MAX_BLOCK_MS / 1000
        assert (forwarder.refused, spool.depth) == (0, 1)
        admin = kafka_admin(KafkaConnection.plain(kafka_bootstrap))
        try:
            admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            admin.close()
        deadline = time.monotonic() + 30
        while spool.depth:
            assert time.monotonic() < deadline, "the spooled reading was never delivered"
            forwarder.send_spooled()
            await forwarder.flush(timeout_s=5)
            await asyncio.sleep(0.2)
    finally:
        await forwarder.close(timeout_s=5)
        spool.close()
    assert (forwarder.refused, forwarder.delivered) == (0, 1)
    consumer = kafka_observer(
        KafkaConnection.plain(kafka_bootstrap), topic, consumer_timeout_ms=5_000
    )
    try:
        assert [r.value for r in consumer] == [b'{"seq": 1}']
    finally:
        consumer.close()
