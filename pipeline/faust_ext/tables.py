"""Tables written outside stream iteration, each changelog record in its key's partition.

With ``use_partitioner=True`` Faust leaves the changelog partition to the producer's
partitioner, which needs the producer's metadata of the changelog topic *at that moment*
(``key_partition`` is synchronous): the first write after start-up can find none and fail
with ``TypeError: 'NoneType' object is not iterable``. The partition is computed here
instead, with Kafka's default partitioner (:mod:`kafka_edge.partitioner`, as the connectors'
producer and aiokafka's use), over the table's partitions, which equal the readings
topic's: each machine's state lands in the partition of its readings, with no metadata.

A table write only queues its changelog record (Faust's ``send_soon``), and
``Producer.flush()`` does not wait for that queue: its buffer flush returns after 0.1 s
without progress, or as soon as the queue is empty while the last record is still being
handed to the Kafka client. :meth:`KeyPartitionedTable.changelog_durable` waits for the
broker's acknowledgement of every changelog record written so far instead, so a caller
can ack its input only once the state derived from it survives the worker.

:meth:`KeyPartitionedTable.write_many` stores many keys at once: their changelog records
go to the Kafka client as one record batch per partition (aiokafka's ``send_batch``), not
one queued message, future and task each. With thousands of machines a chunk touches
thousands of keys, and the per-record path (Faust's ``send_soon``, ``as_future_message``,
the producer's ``send`` waiting on a full batch) was the largest share of the worker's time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

import faust

from kafka_edge.partitioner import partition_for

logger = logging.getLogger(__name__)

# How long a writer waits for the broker's acknowledgement of its changelog records.
CHANGELOG_WAIT_S = 30.0


class KeyPartitionedTable(faust.Table):  # type: ignore[misc]
    def partition_for_key(self, key: Any) -> int | None:
        if self.use_partitioner and self.partitions:
            raw = key if isinstance(key, bytes) else str(key).encode()
            return partition_for(raw, self.partitions)
        result: int | None = super().partition_for_key(key)
        return result

    def write_many(
        self, items: Mapping[Any, Any], *, track: bool = True
    ) -> list[asyncio.Future[Any]]:
        """``table[key] = value`` for each item, with the changelog records sent as one
        record batch per partition, in the order written (each partition's batches wait
        for the previous ones of this table). Returns a future per partition, settled with
        the broker's answer. :meth:`changelog_durable` waits for them; with ``track=False``
        it does not, and the caller looks after them.

        Skips what Faust's ``on_key_set`` does besides sending: key expiry (these tables
        are not windowed) and the table sensors; and ``_on_changelog_sent``, which only
        records offsets for stores that persist them (the stores here are in memory)."""
        if not items:
            return []
        topic = self.changelog_topic
        by_partition: dict[int, list[tuple[Any, Any]]] = {}
        data = self.data
        for key, value in items.items():
            partition = self.partition_for_key(key)
            if partition is None:  # no partitioner: Faust's own path
                self[key] = value
                continue
            data[key] = value
            raw_key, _ = topic.prepare_key(key, self.key_serializer)
            raw_value, _ = topic.prepare_value(value, self.value_serializer)
            by_partition.setdefault(partition, []).append((raw_key, raw_value))
        tails: dict[int, asyncio.Future[Any]] = self.__dict__.setdefault("_changelog_tails", {})
        loop = asyncio.get_running_loop()
        sends: list[asyncio.Future[Any]] = []
        for partition, records in by_partition.items():
            done: asyncio.Future[Any] = loop.create_future()
            if track:
                self._track(done)
            tails[partition] = asyncio.ensure_future(
                self._send_records(partition, records, tails.get(partition), done)
            )
            sends.append(done)
        return sends

    async def _send_records(
        self,
        partition: int,
        records: list[tuple[Any, Any]],
        before: asyncio.Future[Any] | None,
        done: asyncio.Future[Any],
    ) -> None:
        """Send ``records`` to ``partition`` of the changelog after ``before``; settle
        ``done`` with the broker's answer (the error when one batch failed)."""
        if before is not None and not before.done():
            await asyncio.wait([before])
        try:
            producer = self.app.producer._ensure_producer()
            name = self.changelog_topic.get_topic_name()
            sent = []
            batch = producer.create_batch()
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    sent.append(await producer.send_batch(batch, name, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"changelog record of {len(value)} bytes too large")
            sent.append(await producer.send_batch(batch, name, partition=partition))
            results = await asyncio.gather(*sent)
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(results[-1])

    def _track(self, fut: asyncio.Future[Any]) -> None:
        """Keep ``fut`` for :meth:`changelog_durable` until it succeeded (a failed one
        stays until reported)."""
        pending = self._changelog_pending()
        pending.add(fut)

        def sent(done: asyncio.Future[Any]) -> None:
            if done.cancelled() or done.exception() is None:
                pending.discard(done)

        fut.add_done_callback(sent)

    def _changelog_pending(self) -> set[asyncio.Future[Any]]:
        pending: set[asyncio.Future[Any]] = self.__dict__.setdefault("_changelog_futures", set())
        return pending

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = self._send_changelog_record(*args, **kwargs)
        self._track(fut)
        return fut

    def _send_changelog_record(self, *args: Any, **kwargs: Any) -> Any:
        return super().send_changelog(*args, **kwargs)

    async def changelog_durable(self, timeout_s: float = CHANGELOG_WAIT_S) -> None:
        """Return once the broker has every changelog record written so far; raise the
        producer's error when one failed (once per failed record). After ``timeout_s``
        without it, log a warning and return: the worker goes on rather than stalls."""
        pending = self._changelog_pending()
        if not pending:
            return
        waiting = list(pending)
        try:
            done, late = await asyncio.wait(waiting, timeout=timeout_s)
            for fut in done:
                if not fut.cancelled() and fut.exception() is not None:
                    raise cast(BaseException, fut.exception())
            if late:
                logger.warning(
                    "changelog records not acknowledged table=%s pending=%d after_s=%.1f",
                    self.name,
                    len(late),
                    timeout_s,
                )
        finally:
            for fut in waiting:
                if fut.done():
                    pending.discard(fut)


class PromptChangelogTable(KeyPartitionedTable):
    """A table whose changelog records go to the Kafka client at once.

    Faust's ``send_soon`` queues a changelog record in the producer's one buffer, which a
    single task drains record by record; a busy table (the windows, one record per machine
    per chunk) can fill it, and every other table's records wait behind. The alarm engine
    waits for its state to be durable before it goes on, so its records must not queue
    there: each is handed to the Kafka client in the order written (a task per record,
    started in order; the writer awaits :meth:`changelog_durable` before writing the same
    key again)."""

    def _send_changelog_record(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> Any:
        topic = self.changelog_topic
        fut = topic.as_future_message(
            key=key,
            value=value,
            partition=partition,
            key_serializer=key_serializer if key_serializer is not None else self.key_serializer,
            value_serializer=(
                value_serializer if value_serializer is not None else self.value_serializer
            ),
            callback=self._on_changelog_sent,
            eager_partitioning=True,
        )
        task = asyncio.ensure_future(topic.publish_message(fut))

        def failed(done: asyncio.Future[Any]) -> None:
            # The record never reached the client: fail its future, so that
            # changelog_durable() reports the error rather than waiting for it.
            if not done.cancelled() and done.exception() is not None and not fut.done():
                fut.set_exception(cast(BaseException, done.exception()))

        task.add_done_callback(failed)
        return fut


def write_all(
    table: Any, items: Mapping[Any, Any], *, track: bool = True
) -> list[asyncio.Future[Any]]:
    """Store ``items`` in ``table``: in one go with its ``write_many``
    (:meth:`KeyPartitionedTable.write_many`: its changelog sends are returned), else (a
    plain mapping) key by key."""
    write_many = getattr(table, "write_many", None)
    if write_many is not None:
        sends: list[asyncio.Future[Any]] = write_many(items, track=track)
        return sends
    for key, value in items.items():
        table[key] = value
    return []
