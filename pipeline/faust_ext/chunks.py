"""Consuming whole fetches ("chunks") of chosen topics, past Faust's per-event machinery.

Faust keeps the consumer group, the assignment (co-partitioned with the tables), the
rebalances, the table changelogs and the offset commits. What it costs per record is the
path from a fetch to an agent: ``Consumer._drain_messages`` converts every record into a
``Message``, awaits ``wait_first(callback(message), suspend_flow.wait())`` (two tasks per
record), the conductor decodes it into an ``Event`` and puts it on the stream's queue, the
stream iterates, calls sensors, and acks one by one. The profile of the worker showed
that path, not our code, as the bulk of the time (see docs/operations.md, Pipeline worker,
for the figures).

:class:`ChunkConsumer` overrides ``_drain_messages`` only: for a topic with a registered
:data:`ChunkHandler`, the records each ``getmany`` returned for one partition are handed
over as one :class:`Chunk` of raw aiokafka records; every other topic (table changelogs,
the alarm agents' topics) still takes Faust's own path. A handler acks a chunk later, with
:meth:`ChunkConsumer.ack_chunk`, once its data is durable; the acked offsets enter Faust's
own bookkeeping (``_acked``), so Faust's committer commits them as it commits any acked
message, and never commits past a chunk that is not acked. Records a fetch returned but
the loop could not deliver (the flow stopped for a rebalance, the partition was paused)
are sought back to, so the position never moves past them.

Records of a chunked topic reach the handler in offset order, without holes: the consumer
keeps, per partition, the next offset to deliver (the committed offset after Faust seeks
to it, then one past each delivered chunk). A fetch that starts past it (the position moved
ahead: a seek-back racing Faust's seek to the committed offsets after a rebalance) is not
delivered: the partition is sought back to that offset first. Delivering it would evaluate
later readings before earlier ones, and the earlier ones, fetched again later, would be
skipped by the alarm engine as no newer than the last one evaluated (their transitions
lost, and the next one published under a number already used). A gap still there after
the seek back is real (offsets of transaction markers) and is delivered with Faust's gap
bookkeeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Records of one partition from one fetch, in offset order. Offsets missing between
    records (control records of transactions) are acked with the chunk; a gap before the
    first record is handed to Faust's own gap bookkeeping."""

    tp: TP
    records: Sequence[Any]  # aiokafka ConsumerRecord
    first_offset: int
    last_offset: int
    generation: int


ChunkHandler = Callable[[Chunk], Awaitable[None]]


class ChunkConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """Faust's aiokafka consumer, delivering registered topics chunk by chunk."""

    chunk_handlers: dict[str, ChunkHandler]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chunk_handlers = {}
        self._chunk_generation: dict[TP, int] = {}
        # Per partition: the next offset to hand over, when known; bumped on every seek so a
        # chunk that was being handled across a seek does not move it.
        self._next_offset: dict[TP, int] = {}
        self._seeks: dict[TP, int] = {}
        # A gap sought back once: (expected offset, first offset fetched past it).
        self._gap_sought: dict[TP, tuple[int, int]] = {}
        # Awaited first when partitions are revoked (the readings reader lets go of them).
        self.revoke_hooks: list[Callable[[Any], Awaitable[None]]] = []

    def handle_chunks(self, topic: str, handler: ChunkHandler) -> None:
        """Deliver ``topic`` chunk by chunk to ``handler`` (the topic must be subscribed)."""
        self.chunk_handlers[topic] = handler

    def on_revoke(self, hook: Callable[[Any], Awaitable[None]]) -> None:
        """Await ``hook(revoked)`` first whenever partitions are revoked."""
        self.revoke_hooks.append(hook)

    def _expect(self, tp: TP, offset: int | None) -> None:
        self._seeks[tp] = self._seeks.get(tp, 0) + 1
        if offset is None:
            self._next_offset.pop(tp, None)
        else:
            self._next_offset[tp] = offset

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets; those are the next to deliver."""
        await super().perform_seek()
        read_offset = self._read_offset
        for tp in self.assignment():
            offset = read_offset.get(tp)
            self._expect(tp, offset if offset is not None and offset >= 0 else None)
            self._gap_sought.pop(tp, None)

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for hook in self.revoke_hooks:
            await hook(revoked)
        for tp in revoked:
            self._expect(tp, None)
            self._gap_sought.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def ack_chunk(self, chunk: Chunk) -> bool:
        """Mark the chunk's offsets processed (its data is durable); False when the
        partition is no longer assigned here or its committed offset is past the chunk.

        An ack from before a rebalance still counts for a partition this worker kept: its
        data is in InfluxDB either way, and Faust seeks back only to a *committed* offset,
        so rejecting it would leave a partition without one past records never acked."""
        tp = chunk.tp
        if tp not in self.assignment():
            return False
        committed = self._committed_offset[tp]
        first = chunk.first_offset
        if committed is not None:
            first = max(first, committed)
        if first > chunk.last_offset:
            return False
        offsets = range(first, chunk.last_offset + 1)
        index = self._acked_index[tp]
        new = [o for o in offsets if o not in index] if index else list(offsets)
        index.update(new)
        self._acked[tp].extend(new)
        self._n_acked += len(new)
        return True

    async def _seek_back(self, fetched: Any) -> None:
        """Seek each assigned partition back to the first of its fetched records."""
        assignment = self.assignment()
        for tp, batch in fetched:
            if batch and tp in assignment:
                # Never ahead of the next offset to deliver: a seek to the committed
                # offsets may have happened since these records were fetched.
                offset = batch[0].offset
                expected = self._next_offset.get(tp) if tp.topic in self.chunk_handlers else None
                if expected is not None and expected < offset:
                    offset = expected
                logger.info(
                    "fetched records not delivered, seeking back topic=%s partition=%d offset=%d",
                    tp.topic,
                    tp.partition,
                    offset,
                )
                try:
                    await self.seek(tp, offset)
                    self._expect(tp, offset)
                except Exception as exc:  # the partition was revoked meanwhile
                    logger.warning(
                        "seek back failed topic=%s partition=%d: %r", tp.topic, tp.partition, exc
                    )

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - needs Kafka
        """Faust's fetch loop (a private method of ``Consumer``), delivering each fetch
        with :meth:`_deliver_fetch`."""
        consumer_should_stop = cast(Any, self)._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                records, active = await self._wait_next_records(1.0)
                await asyncio.sleep(0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    # Records fetched while the flow is stopped (a rebalance) are dropped:
                    # seek each partition back to the first of them, or its position would
                    # have moved past them (Faust's own getmany seeks to the committed
                    # offsets, which leaves a partition without any committed offset past
                    # the dropped records).
                    await self._seek_back(records.items())
                    continue
                await self._deliver_fetch(list(records.items()), active)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                logger.info("broker stopped the consumer, shutting down")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def _deliver_fetch(
        self, pending: list[tuple[TP, Sequence[Any]]], active: Any
    ) -> None:  # pragma: no cover - needs Kafka
        """Deliver one fetch, partition by partition: a chunked topic's records as one
        chunk, any other topic's record by record on Faust's own path."""
        app = cast(Any, self.app)
        generation = app.consumer_generation_id
        for index, (tp, batch) in enumerate(pending):
            if not batch:
                continue
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                # Fetched for a partition that is paused now: seek back so
                # its records are fetched again once it is resumed.
                logger.info(
                    "skipping inactive topic=%s partition=%d offsets=%d-%d",
                    tp.topic,
                    tp.partition,
                    batch[0].offset,
                    batch[-1].offset,
                )
                await self._seek_back([(tp, batch)])
                continue
            if app.consumer_generation_id != generation or not self.flow_active:
                # A rebalance began: what is left of this fetch is dropped, so
                # seek those partitions back (Faust seeks to the committed offsets
                # again when the rebalance is done).
                await self._seek_back(pending[index:])
                return
            handler = self.chunk_handlers.get(tp.topic)
            if handler is not None:
                await self._deliver_chunk(tp, batch, handler, generation)
            else:
                await self._deliver_each(tp, batch)

    async def _deliver_chunk(
        self, tp: TP, batch: Sequence[Any], handler: ChunkHandler, generation: int
    ) -> None:  # pragma: no cover - needs Kafka
        """Hand the records in order to ``handler`` as one chunk; the next offset to deliver
        moves past them unless a seek happened meanwhile."""
        in_order = await self._in_order(tp, batch)
        if in_order is None:
            return
        batch = in_order
        self._gap_sought.pop(tp, None)
        if self._chunk_generation.get(tp) != generation:
            self._chunk_generation[tp] = generation
            logger.info(
                "consuming topic=%s partition=%d from offset=%d generation=%d",
                tp.topic,
                tp.partition,
                batch[0].offset,
                generation,
            )
        first = batch[0].offset
        last = batch[-1].offset
        seeks = self._seeks.get(tp, 0)
        await handler(
            Chunk(
                tp=tp,
                records=batch,
                first_offset=first,
                last_offset=last,
                generation=generation,
            )
        )
        if self._seeks.get(tp, 0) == seeks:
            self._next_offset[tp] = last + 1
            self._read_offset[tp] = last

    async def _in_order(
        self, tp: TP, batch: Sequence[Any]
    ) -> Sequence[Any] | None:  # pragma: no cover - needs Kafka
        """The records of ``batch`` from the next offset to deliver on; None when there is
        nothing to deliver now (all of them delivered already, or the position moved past
        records never delivered and the partition is sought back to them)."""
        expected = self._next_offset.get(tp)
        if expected is None:
            return batch
        if batch[0].offset < expected:
            # Older than the next to deliver: a fetch racing a seek.
            batch = [r for r in batch if r.offset >= expected]
            if not batch:
                return None
        if batch[0].offset > expected:
            sought = self._gap_sought.get(tp)
            if sought != (expected, batch[0].offset):
                # The position moved past records never delivered.
                logger.warning(
                    "fetch skipped offsets topic=%s partition=%d "
                    "expected=%d fetched_from=%d; seeking back",
                    tp.topic,
                    tp.partition,
                    expected,
                    batch[0].offset,
                )
                self._gap_sought[tp] = (expected, batch[0].offset)
                await self._seek_back([(tp, batch)])
                return None
            # Still there after seeking back: a real gap.
            await self._add_gap(tp, expected, batch[0].offset)
        return batch

    async def _deliver_each(
        self, tp: TP, batch: Sequence[Any]
    ) -> None:  # pragma: no cover - needs Kafka
        """Faust's own path, record by record (table changelogs, the agents' topics)."""
        callback = self.callback
        to_message = self._to_message
        read_offset = self._read_offset
        acks_enabled = cast(Any, self.app).topics.acks_enabled_for
        for record in batch:
            offset = record.offset
            r_offset = read_offset[tp]
            if r_offset is not None and offset < r_offset:
                continue
            if r_offset and offset - r_offset > 1 and acks_enabled(tp.topic):
                await self._add_gap(tp, r_offset + 1, offset)
            await self.wait_first(callback(to_message(tp, record)), self.suspend_flow.wait())
            read_offset[tp] = offset
