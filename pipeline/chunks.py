"""Consuming whole fetches ("chunks") of chosen topics, past Faust's per-event machinery.

Faust keeps the consumer group, the assignment (co-partitioned with the tables), the
rebalances, the table changelogs and the offset commits. What it costs per record is the
path from a fetch to an agent: ``Consumer._drain_messages`` converts every record into a
``Message``, awaits ``wait_first(callback(message), suspend_flow.wait())`` (two tasks per
record), the conductor decodes it into an ``Event`` and puts it on the stream's queue, the
stream iterates, calls sensors, and acks one by one. The profile of the worker showed
that path, not our code, as the bulk of the time (see ``docs`` in the README's pipeline
section for the figures).

:class:`ChunkConsumer` overrides ``_drain_messages`` only: for a topic with a registered
:data:`ChunkHandler`, the records each ``getmany`` returned for one partition are handed
over as one :class:`Chunk` of raw aiokafka records; every other topic (table changelogs,
the alarm agents' topics) still takes Faust's own path. A handler acks a chunk later, with
:meth:`ChunkConsumer.ack_chunk`, once its data is durable; the acked offsets enter Faust's
own bookkeeping (``_acked``), so Faust's committer commits them as it commits any acked
message, and never commits past a chunk that is not acked. An ack from before a rebalance
(another consumer generation) is ignored: Faust seeks back to the committed offsets on a
rebalance, so those records are consumed again.
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

    def ack_chunk(self, chunk: Chunk) -> bool:
        """Mark the chunk's offsets processed; False (and nothing acked) after a rebalance."""
        app = cast(Any, self.app)
        if chunk.generation != app.consumer_generation_id:
            return False
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

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - needs Kafka
        callback = self.callback
        consumer_should_stop = cast(Any, self)._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        read_offset = self._read_offset
        to_message = self._to_message
        handlers = self.chunk_handlers
        app = cast(Any, self.app)
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                records, active = await self._wait_next_records(1.0)
                await asyncio.sleep(0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    continue
                generation = app.consumer_generation_id
                for tp, batch in records.items():
                    if not batch:
                        continue
                    if (
                        active is not None
                        and tp not in active
                        and (tp not in self._buffered_partitions)
                    ):
                        continue
                    if app.consumer_generation_id != generation or not self.flow_active:
                        break
                    previous = read_offset[tp]
                    if previous is not None and batch[0].offset < previous:
                        # Older than where Faust last sought to: a fetch racing a seek.
                        batch = [r for r in batch if r.offset >= previous]
                        if not batch:
                            continue
                    handler = handlers.get(tp.topic)
                    if handler is not None:
                        first = batch[0].offset
                        last = batch[-1].offset
                        if previous and first - previous > 1:
                            await self._add_gap(tp, previous + 1, first)
                        await handler(
                            Chunk(
                                tp=tp,
                                records=batch,
                                first_offset=first,
                                last_offset=last,
                                generation=generation,
                            )
                        )
                        read_offset[tp] = last
                        continue
                    for record in batch:
                        offset = record.offset
                        r_offset = read_offset[tp]
                        if r_offset is not None and offset < r_offset:
                            continue
                        if (
                            r_offset
                            and offset - r_offset > 1
                            and app.topics.acks_enabled_for(tp.topic)
                        ):
                            await self._add_gap(tp, r_offset + 1, offset)
                        await self.wait_first(
                            callback(to_message(tp, record)), self.suspend_flow.wait()
                        )
                        read_offset[tp] = offset
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                logger.info("broker stopped the consumer, shutting down")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
