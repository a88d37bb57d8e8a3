import asyncio

import faust
import orjson
import pytest

from pipeline.faust_ext.tables import KeyPartitionedTable


async def test_changelog_durable_waits_for_every_changelog_record(monkeypatch):
    """Faust's producer flush may return while a changelog record is still queued; the
    table waits for the broker's acknowledgement of each record instead."""
    sent: list[asyncio.Future[object]] = []

    def send_changelog(self, *args, **kwargs):
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        sent.append(fut)
        return fut

    monkeypatch.setattr(faust.Table, "send_changelog", send_changelog)
    app = faust.App("tables-unit", broker="memory://", store="memory://")
    table = KeyPartitionedTable(app, name="t", partitions=3, use_partitioner=True)
    await table.changelog_durable()  # nothing written: returns at once
    table.send_changelog(0, b"m1", b"v1")
    table.send_changelog(1, b"m2", b"v2")
    waiting = asyncio.ensure_future(table.changelog_durable())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    sent[0].set_result("ok")
    await asyncio.sleep(0.01)
    assert not waiting.done()
    sent[1].set_result("ok")
    await asyncio.wait_for(waiting, timeout=1)
    table.send_changelog(2, b"m3", b"v3")
    sent[2].set_exception(RuntimeError("broker refused"))
    await asyncio.sleep(0.01)  # the failure is kept after its callbacks ran
    with pytest.raises(RuntimeError, match="broker refused"):
        await table.changelog_durable()
    await table.changelog_durable()  # reported once
    # A record the broker never acknowledges is waited for only so long.
    table.send_changelog(0, b"m4", b"v4")
    await asyncio.wait_for(table.changelog_durable(timeout_s=0.05), timeout=1)
    assert not sent[3].done()


class _Batch:
    def __init__(self, room: int) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self._room = room

    def append(self, *, key, value, timestamp):
        if len(self.records) >= self._room:
            return None
        self.records.append((key, value))
        return object()


class _Client:
    """What write_many needs of aiokafka's producer: batches of 3 records, sent futures."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes]], asyncio.Future]] = []

    def create_batch(self) -> _Batch:
        return _Batch(room=3)

    async def send_batch(self, batch, topic, *, partition):
        fut = asyncio.get_running_loop().create_future()
        self.sent.append((topic, partition, batch.records, fut))
        return fut


class _Producer:
    def __init__(self, client: _Client) -> None:
        self._client = client

    def _ensure_producer(self) -> _Client:
        return self._client


async def test_write_many_sends_one_record_batch_per_partition_in_order():
    """Many keys written at once: the table holds them, their changelog records go out as
    record batches per partition (keys in the order written), and changelog_durable waits
    for the broker's answer to every batch and reports a failed one."""
    from kafka_edge.partitioner import partition_for

    app = faust.App("tables-many-unit", broker="memory://", store="memory://")
    client = _Client()
    app.producer = _Producer(client)
    table = KeyPartitionedTable(app, name="w", partitions=3, use_partitioner=True)
    items = {f"m{i}".encode(): {"n": i} for i in range(12)}
    table.write_many(items)
    assert {k: table[k] for k in items} == items
    await asyncio.sleep(0.01)
    by_partition: dict[int, list[bytes]] = {}
    for key in items:
        by_partition.setdefault(partition_for(key, 3), []).append(key)
    sent_keys: dict[int, list[bytes]] = {}
    for topic, partition, records, _ in client.sent:
        assert topic == table.changelog_topic.get_topic_name()
        assert len(records) <= 3
        sent_keys.setdefault(partition, []).extend(k for k, _ in records)
    assert sent_keys == by_partition
    assert orjson.loads(client.sent[0][2][0][1]) == items[client.sent[0][2][0][0]]
    waiting = asyncio.ensure_future(table.changelog_durable())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    for *_, fut in client.sent:
        fut.set_result("ok")
    await asyncio.wait_for(waiting, timeout=1)
    # A later write to a partition goes out after the earlier one's batches.
    key = by_partition[0][0]
    table.write_many({key: {"n": -1}})
    await asyncio.sleep(0.01)
    assert client.sent[-1][1] == 0 and client.sent[-1][2] == [(key, b'{"n":-1}')]
    client.sent[-1][3].set_exception(RuntimeError("broker refused"))
    with pytest.raises(RuntimeError, match="broker refused"):
        await asyncio.wait_for(table.changelog_durable(), timeout=1)
    await table.changelog_durable()  # reported once
