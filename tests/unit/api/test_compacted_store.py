"""The stores' base: a write shows in this replica's view only once Kafka acknowledged it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from api.errors import BrokerUnavailableError
from api.kafka.producer import KafkaPublisher
from api.kafka.store import CompactedStore
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record

_KAFKA = KafkaConnection.plain("127.0.0.1:9")


class _Publisher(KafkaPublisher):
    """Records what is produced; refuses everything when ``down``."""

    def __init__(self) -> None:
        super().__init__(kafka=_KAFKA, produce_timeout_s=1.0)
        self.sent: list[tuple[str, list[Record]]] = []
        self.down = False

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        if self.down:
            raise BrokerUnavailableError("kafka: down")
        self.sent.append((topic, list(records)))


def _store(publisher: KafkaPublisher | None) -> tuple[CompactedStore, dict[bytes, bytes]]:
    table: dict[bytes, bytes] = {}

    def apply(key: bytes | None, value: bytes | None) -> None:
        assert key is not None
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value

    store = CompactedStore(kafka=_KAFKA, topic="t.x", publisher=publisher, apply=apply)
    return store, table


async def test_a_write_is_applied_after_its_ack_in_order() -> None:
    publisher = _Publisher()
    store, table = _store(publisher)
    records = [Record(b"a", b"1"), Record(b"b", b"2"), Record(b"a", None)]
    await store.write(records)
    assert publisher.sent == [("t.x", records)]
    assert table == {b"b": b"2"}


async def test_a_refused_write_leaves_the_view_as_it_was() -> None:
    publisher = _Publisher()
    store, table = _store(publisher)
    publisher.down = True
    with pytest.raises(BrokerUnavailableError):
        await store.write([Record(b"a", b"1")])
    assert table == {}


async def test_a_store_without_a_publisher_refuses_to_write() -> None:
    store, _ = _store(None)
    with pytest.raises(RuntimeError, match=r"t\.x"):
        await store.write([Record(b"a", b"1")])
