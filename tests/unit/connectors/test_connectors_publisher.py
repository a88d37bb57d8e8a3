"""The connector's publisher: publish waits for the broker's answer on kafka-python's
sender thread; enqueue only buffers. Both count every record."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from kafka.errors import KafkaError, MessageSizeTooLargeError

from connectors.forwarding.producer import ReadingPublisher
from contracts.topics import TopicNames
from kafka_edge.records import Record


class FakeFuture:
    """kafka-python's future: callbacks run on the thread that settles it."""

    def __init__(self) -> None:
        self._callbacks: list[Any] = []
        self._errbacks: list[Any] = []

    def add_callback(self, fn: Any, *args: Any) -> None:
        self._callbacks.append((fn, args))

    def add_errback(self, fn: Any, *args: Any) -> None:
        self._errbacks.append((fn, args))

    def succeed(self) -> None:
        for fn, args in self._callbacks:
            fn(*args, "metadata")

    def fail(self, exc: BaseException) -> None:
        for fn, args in self._errbacks:
            fn(*args, exc)


class FakeProducer:
    def __init__(self, *, refuse_over: int = 1_000_000) -> None:
        self.futures: list[FakeFuture] = []
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self._refuse_over = refuse_over

    def send(self, topic: str, *, key: bytes | None, value: bytes | None) -> FakeFuture:
        if value is not None and len(value) > self._refuse_over:
            raise MessageSizeTooLargeError("too large")
        self.sent.append((topic, key, value))
        future = FakeFuture()
        self.futures.append(future)
        return future

    def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def close(self, timeout: float | None = None) -> None:
        pass


async def _started(producer: FakeProducer) -> ReadingPublisher:
    publisher = ReadingPublisher(
        producer_factory=lambda: producer, topics=TopicNames.with_prefix("t")
    )
    await publisher.start()
    return publisher


def _settle_later(producer: FakeProducer, *, fail: BaseException | None = None) -> None:
    def settle() -> None:
        for future in producer.futures:
            if fail is None:
                future.succeed()
            else:
                future.fail(fail)

    threading.Timer(0.05, settle).start()


async def test_publish_returns_once_every_record_is_acknowledged() -> None:
    producer = FakeProducer()
    publisher = await _started(producer)
    _settle_later(producer)
    await asyncio.wait_for(
        publisher.publish("t.machines", [Record(b"1", b"a"), Record(b"2", b"b")]), 5
    )
    assert producer.sent == [("t.machines", b"1", b"a"), ("t.machines", b"2", b"b")]
    assert (publisher.stats.sent, publisher.stats.delivered, publisher.stats.failed) == (2, 2, 0)


async def test_publish_raises_the_delivery_error_and_counts_it() -> None:
    producer = FakeProducer()
    publisher = await _started(producer)
    _settle_later(producer, fail=KafkaError("broker said no"))
    with pytest.raises(KafkaError, match="broker said no"):
        await asyncio.wait_for(publisher.publish("t.machines", [Record(b"1", b"a")]), 5)
    assert publisher.stats.failed == 1


async def test_a_refused_record_fails_publish_at_once_and_enqueue_counts_it() -> None:
    producer = FakeProducer(refuse_over=3)
    publisher = await _started(producer)
    with pytest.raises(KafkaError, match="1 records refused"):
        await publisher.publish("t.machines", [Record(b"1", b"too long")])
    assert publisher.enqueue("t.machines", [Record(b"1", b"ok"), Record(b"2", b"too long")])
    assert (publisher.stats.sent, publisher.stats.failed) == (1, 2)
