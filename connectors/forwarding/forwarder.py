"""From the pollers to the spool, and from the spool to Kafka.

:class:`SpoolWriter` is the pollers' sink: it encodes each reading once and commits it
to the spool in the next turn of the event loop, before the loop waits for anything (a
group commit: scans that finish in the same turn share one transaction). A ``kill -9``
can only catch a reading in the microseconds of computation between its scan and that
commit, never while waiting for a device or for Kafka; such a reading's sequence number
was not committed either, so the sequence stays gap-free. (WAL with
``synchronous=NORMAL``: a committed reading survives the process being killed; a power
cut of the host may lose the last transactions.)

:class:`Forwarder` produces the spool's readings in order, at most ``max_in_flight`` at a
time, and deletes each prefix Kafka acknowledged. While Kafka is away the producer keeps
retrying what is in flight and the spool grows (up to its bound); when Kafka returns it
drains in order. A delivery that fails for good makes it replace the producer and resend
from the first unacknowledged reading.

After a restart, readings that reached Kafka but whose acknowledgement the spool never
recorded (the process was killed in between) are found by reading the tail of the
readings topic (:func:`delivered_seqs`) and deleted before forwarding, so each reading is
in the topic exactly once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from kafka import TopicPartition
from kafka.errors import KafkaError

from connectors.forwarding.spool import Spool
from connectors.lifecycle import sleep_unless_stopped
from contracts.readings import Reading
from kafka_edge.connection import KafkaConnection
from kafka_edge.sync_clients import kafka_consumer

logger = logging.getLogger(__name__)

# After a send that failed before leaving (retriable: no metadata yet), wait this long.
RETRY_SEND_S = 0.5


class SpoolWriter:
    """The pollers' sink: commits encoded readings to the spool, one transaction per turn
    of the event loop (see the module docstring)."""

    def __init__(self, spool: Spool, *, topic: str) -> None:
        self._spool = spool
        self._topic = topic
        self._pending: list[tuple[str, int, str, bytes, bytes]] = []
        self._scheduled = False
        self.written = 0
        self.commits = 0

    def __call__(self, reading: Reading) -> None:
        self._pending.append(
            (reading.machine_id, reading.seq, self._topic, reading.key(), reading.encode())
        )
        if not self._scheduled:
            # Runs in the loop's next turn, before it waits for I/O again.
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if self._pending:
            pending, self._pending = self._pending, []
            self._spool.append(pending)
            self.written += len(pending)
            self.commits += 1


class Forwarder:
    """Produces the spool's readings to Kafka in order; see the module docstring."""

    def __init__(
        self,
        spool: Spool,
        *,
        producer_factory: Callable[[], Any],
        max_in_flight: int = 5_000,
        on_delivered: Callable[[float], None] | None = None,
    ) -> None:
        self._spool = spool
        self._factory = producer_factory
        self._max_in_flight = max_in_flight
        self._on_delivered = on_delivered
        self._producer: Any = None
        self._in_flight: collections.OrderedDict[int, bool] = collections.OrderedDict()
        self._events: collections.deque[tuple[int, bool, float]] = collections.deque()
        self._last_sent_id = 0
        self._retry_at_s = 0.0
        self.delivered = 0
        self.failed = 0
        self.refused = 0

    async def start(self, producer: Any) -> None:
        self._producer = producer

    async def run(self, stop: asyncio.Event, *, tick_s: float = 0.01) -> None:
        """Forward until ``stop`` is set; the caller flushes and closes afterwards.

        One round every ``tick_s``: apply the acknowledgements, then send everything the
        spool gained since the last round (the producer lingers longer than a tick
        anyway). A round per event loop turn would cost a spool query for the few
        readings of each turn. Only when the in-flight window limited the send does the
        next round start at once.
        """
        while not stop.is_set():
            self._drain_events()
            if self._needs_resend:
                await self._resend()
            room = self._max_in_flight - len(self._in_flight)
            if room > 0 and self.send_spooled() >= room:
                await asyncio.sleep(0)
            else:
                await sleep_unless_stopped(stop, tick_s)

    _needs_resend = False

    def send_spooled(self) -> int:
        """Send what the spool holds beyond what is in flight (up to ``max_in_flight``)."""
        room = self._max_in_flight - len(self._in_flight)
        if room <= 0 or self._producer is None:
            return 0
        if time.monotonic() < self._retry_at_s:
            return 0
        records = self._spool.peek(after_id=self._last_sent_id, limit=room)
        for n, record in enumerate(records):
            if not self._send(record.id, record.topic, record.key, record.value):
                return n
        return len(records)

    def _send(self, record_id: int, topic: str, key: bytes, value: bytes) -> bool:
        """Send one record; False when it was not sent and must be tried again later."""
        sent_s = time.perf_counter()
        try:
            future = self._producer.send(topic, key=key, value=value)
        except KafkaError as exc:
            if exc.retriable:
                # Not sent, not refused: e.g. no partitions known for the topic within
                # max_block_ms (a broker that just restarted answers metadata with errors
                # for a while). It stays in the spool and is tried again after a pause.
                self._retry_at_s = time.monotonic() + RETRY_SEND_S
                logger.warning(
                    "produce not sent, retrying topic=%s spool_id=%d error=%r retry_in_s=%.1f",
                    topic,
                    record_id,
                    exc,
                    RETRY_SEND_S,
                )
                return False
            self._last_sent_id = record_id
            # Refused before it left (e.g. larger than max_request_size): it never can be
            # delivered, so it is counted, logged and dropped from the spool.
            self.refused += 1
            self._in_flight[record_id] = True
            self._events.append((0, True, sent_s))
            logger.error(
                "produce refused topic=%s spool_id=%d size_bytes=%d error=%r refused=%d",
                topic,
                record_id,
                len(value),
                exc,
                self.refused,
            )
            return True
        self._last_sent_id = record_id
        self._in_flight[record_id] = False
        events = self._events
        future.add_callback(lambda _m: events.append((record_id, True, sent_s)))
        future.add_errback(lambda _e: events.append((record_id, False, sent_s)))
        return True

    def _drain_events(self) -> bool:
        """Apply the acknowledgements (from kafka-python's thread); delete the acked prefix."""
        if not self._events:
            return False
        now_s = time.perf_counter()
        while self._events:
            record_id, ok, sent_s = self._events.popleft()
            if record_id not in self._in_flight:
                continue
            if ok:
                self._in_flight[record_id] = True
                self.delivered += 1
                if self._on_delivered is not None:
                    self._on_delivered(now_s - sent_s)
            else:
                self.failed += 1
                self._needs_resend = True
        last_acked = 0
        while self._in_flight:
            first_id, acked = next(iter(self._in_flight.items()))
            if not acked:
                break
            self._in_flight.popitem(last=False)
            last_acked = first_id
        if last_acked:
            self._spool.delete_through(last_acked)
        return True

    async def _resend(self) -> None:
        # No backoff of its own: each failed delivery already waited out kafka-python's
        # retries and delivery timeout, so this runs at most once per such failure.
        first = next(iter(self._in_flight), None)
        logger.warning(
            "kafka delivery failed, replacing the producer and resending from spool id=%s",
            first,
        )
        old, self._producer = self._producer, None
        await asyncio.to_thread(old.close, 0)
        self._producer = await asyncio.to_thread(self._factory)
        self._in_flight.clear()
        self._events.clear()
        self._needs_resend = False
        if first is not None:
            self._last_sent_id = first - 1

    async def close(self, *, timeout_s: float) -> None:
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close, timeout_s)
            self._producer = None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def flush(self, *, timeout_s: float) -> None:
        """Wait for what is in flight (bounded), then apply the acknowledgements."""
        if self._producer is not None:
            await asyncio.to_thread(self._producer.flush, timeout_s)
        self._drain_events()


def delivered_seqs(
    connection: KafkaConnection,
    topic: str,
    machines: Iterable[str],
    *,
    tail_records: int,
    timeout_s: float = 30.0,
) -> dict[str, int]:
    """The highest ``seq`` of each of ``machines`` among the last ``tail_records`` records
    of every partition of ``topic`` (blocking; run it in a thread)."""
    wanted = {m.encode() for m in machines}
    found: dict[str, int] = {}
    if not wanted:
        return found
    consumer = kafka_consumer(
        connection,
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=1_000,
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return found
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        begins = consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(begins[tp], ends[tp] - tail_records))
        deadline = time.monotonic() + timeout_s
        remaining = {tp for tp in tps if consumer.position(tp) < ends[tp]}
        while remaining and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.key in wanted:
                        seq = int(orjson.loads(record.value).get("seq", 0))
                        machine = record.key.decode()
                        found[machine] = max(seq, found.get(machine, 0))
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()
    return found
