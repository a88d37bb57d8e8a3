"""The windows stage of the readings loop: state in a changelogged table, closed windows
published to the aggregates topic at once and written to InfluxDB with the batch.

The table (``windows``, key = machine id bytes, co-partitioned with readings, in memory,
rebuilt from its compacted changelog at start-up) holds :mod:`pipeline.windows.core`'s
state of each machine; it is written once per machine per chunk. A restarted worker
recovers its windows from the changelog and skips readings at or below the offset the
state already applied, so a replay never counts a reading twice.

A chunk's readings are acked only once the window states they led to are in Kafka
(:meth:`WindowsStage.confirm`, awaited by the storage batcher before it acks): a changelog
send that failed is reported, and the current state of the machines it carried is written
again, so a restart does not resume from a state older than the offsets committed.

A reading whose window closed already (history imported or an edge device catching up) is
late: it joins no window and is counted (``late_readings``, and
``millstream_window_late_readings_total`` on the worker's ``/windows/metrics/``); the
storage path writes its raw point all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from contracts.aggregates import WindowAggregate
from contracts.errors import ConfigError
from contracts.readings import Reading
from contracts.timefmt import now_ms
from kafka_edge.records import Publisher, Record
from kafka_edge.retry import RetryPolicy, retry_async
from pipeline.due_queue import DueQueue
from pipeline.faust_ext.tables import CHANGELOG_WAIT_S, write_all
from pipeline.settings import PipelineSettings
from pipeline.storage.delivery import until_done
from pipeline.windows.core import WindowSpec, add_reading, close_due, new_state, pane_ms
from pipeline.windows.lines import aggregate_lines

logger = logging.getLogger(__name__)

WINDOWS_TABLE = "windows"
# Readings between two pauses of a long chunk.
PAUSE_EVERY = 500

LinesWriter = Callable[[list[str]], Awaitable[None]]


def specs_from_settings(settings: PipelineSettings) -> tuple[WindowSpec, ...]:
    tumbling = settings.pipeline_window_tumbling_s * 1000
    specs = [WindowSpec(size_ms=tumbling, step_ms=tumbling)]
    hopping = settings.pipeline_window_hopping_s
    if hopping:
        hop = settings.pipeline_window_hop_s
        if hopping % hop or hop > hopping:
            raise ConfigError(
                f"pipeline_window_hopping_s: {hopping} must be a multiple of "
                f"pipeline_window_hop_s ({hop})"
            )
        specs.append(WindowSpec(size_ms=hopping * 1000, step_ms=hop * 1000))
    return tuple(specs)


class WindowsStage:
    def __init__(
        self,
        *,
        table: MutableMapping[bytes, Any],
        specs: Sequence[WindowSpec],
        grace_ms: int,
        idle_close_ms: int,
        publisher: Publisher,
        aggregates_topic: str,
        retry: RetryPolicy,
        registry: CollectorRegistry | None = None,
        pause: Callable[[], Awaitable[None]] | None = None,
        idle_writer: LinesWriter | None = None,
    ) -> None:
        """``pause`` is awaited every PAUSE_EVERY readings of a long chunk, so that other
        tasks (the alarm reader above all) get their turn; ``idle_writer`` writes the
        InfluxDB lines of the windows :meth:`run_idle_closer` closes."""
        self._table = table
        self._specs = tuple(specs)
        self._pane_ms = pane_ms(self._specs)
        self._grace_ms = grace_ms
        self._idle_close_ms = idle_close_ms
        self._publisher = publisher
        self._topic = aggregates_topic
        self._retry = retry
        self._lock = asyncio.Lock()
        # machine id -> wall time of its last reading here (for closing idle machines),
        # and the machines by the wall time they were last seen at the latest.
        self._seen_ms: dict[str, int] = {}
        self._silent: DueQueue[str] = DueQueue()
        # machine id -> the pane (by reading time less grace) its due windows were last
        # closed in, here: a reading in the same pane has none to close.
        self._checked_pane: dict[str, int] = {}
        self.late_readings = 0
        self.registry = registry if registry is not None else CollectorRegistry()
        self._late_counter = Counter(
            "millstream_window_late_readings",
            "Readings whose window had closed (stored, in no aggregate).",
            registry=self.registry,
        )
        self.emitted = 0
        self._pause = pause
        self._idle_writer = idle_writer
        # The writes of window states whose changelog sends are not yet known to be in
        # Kafka: (number of the write, keys written, the sends), oldest first.
        self._unconfirmed: deque[tuple[int, list[bytes], list[asyncio.Future[Any]]]] = deque()
        self._writes = 0
        self.changelog_failures = 0
        self._failure_counter = Counter(
            "millstream_window_changelog_failures",
            "Changelog sends of window state that failed (the states were written again).",
            registry=self.registry,
        )

    @property
    def table(self) -> Mapping[bytes, Any]:
        """The window state per machine id (read by the worker's metrics)."""
        return self._table

    async def apply(
        self, readings: Sequence[Reading], offsets: Sequence[int], now_ms: int
    ) -> list[str]:
        """Add readings to their windows and emit the closed ones; return their InfluxDB
        lines. Late readings are counted; their raw points are the storage path's."""
        async with self._lock:
            states: dict[str, dict[str, Any]] = {}
            closed: list[WindowAggregate] = []
            late = 0
            last_reason = ""
            specs = self._specs
            grace = self._grace_ms
            pane = self._pane_ms
            pause = self._pause
            checked = self._checked_pane
            for index, (reading, offset) in enumerate(zip(readings, offsets, strict=True)):
                if pause is not None and index and not index % PAUSE_EVERY:
                    await pause()
                machine_id = reading.machine_id
                state = states.get(machine_id)
                if state is None:
                    stored = self._table.get(machine_id.encode())
                    state = states[machine_id] = stored if stored else new_state()
                previous_max = state["max_ts"]
                reason = add_reading(state, reading, offset, specs, pane)
                if reason is not None:
                    late += 1
                    last_reason = reason
                    continue
                if state["max_ts"] != previous_max:
                    until = state["max_ts"] - grace
                    # Windows end on pane boundaries: nothing more is due while ``until``
                    # stays in the pane where this worker last closed the due ones.
                    at = until // pane
                    if (
                        previous_max is None
                        or (previous_max - grace) // pane != at
                        or checked.get(machine_id) != at
                    ):
                        checked[machine_id] = at
                        closed.extend(close_due(state, machine_id, specs, until_ms=until))
                self._seen_ms[machine_id] = now_ms
                if machine_id not in self._silent:
                    self._silent.at_most(machine_id, now_ms)
            await self._emit(closed)
            self._write({m.encode(): state for m, state in states.items()})
        if late:
            self.late_readings += late
            self._late_counter.inc(late)
            logger.info("late readings=%d stored, in no window; last: %s", late, last_reason)
        return aggregate_lines(closed)

    async def _emit(self, closed: list[WindowAggregate]) -> None:
        if not closed:
            return
        records = [Record(a.key(), a.encode()) for a in closed]

        async def publish() -> None:
            await self._publisher.publish(self._topic, records)

        await until_done(publish, what="publish_aggregates", retry=self._retry)
        self.emitted += len(closed)

    async def close_idle(self, wall_ms: int) -> list[WindowAggregate]:
        """Close the due windows of machines silent for ``idle_close_ms``; return them.
        Only the machines seen that long ago are looked at (see :mod:`pipeline.due_queue`):
        one seen since is put back at its new time."""
        closed: list[WindowAggregate] = []
        async with self._lock:
            for machine_id in self._silent.pop_due(wall_ms - self._idle_close_ms):
                seen_ms = self._seen_ms.get(machine_id)
                if seen_ms is None:
                    continue
                if wall_ms - seen_ms < self._idle_close_ms:
                    self._silent.at_most(machine_id, seen_ms)
                    continue
                key = machine_id.encode()
                state = self._table.get(key)
                if not state:
                    self._forget(machine_id)
                    continue
                done = close_due(state, machine_id, self._specs, until_ms=wall_ms - self._grace_ms)
                if done:
                    closed.extend(done)
                    self._write({key: state})
                if not state["panes"]:
                    self._forget(machine_id)
                else:
                    # Windows still open after the wall clock: look again next time.
                    self._silent.at_most(machine_id, seen_ms)
            await self._emit(closed)
        return closed

    def _write(self, states: Mapping[bytes, Any]) -> int:
        """Store ``states`` in the table; return the number of this write."""
        sends = write_all(self._table, states, track=False)
        self._writes += 1
        if sends:
            self._unconfirmed.append((self._writes, list(states), sends))
        return self._writes

    def mark(self) -> int:
        """The number of the last write of window states, for :meth:`confirm`."""
        return self._writes

    async def confirm(self, upto: int) -> None:
        """Return once the window states of every write up to ``upto`` (a :meth:`mark`)
        are in Kafka. A failed changelog send is logged and counted, the current state of
        the machines of those writes is written again, and that write is waited for in
        turn, under the retry policy (the storage batcher acks nothing meanwhile). After
        CHANGELOG_WAIT_S with sends unanswered, a warning is logged and the acks go on."""
        target = upto

        async def attempt() -> None:
            nonlocal target
            writes = [w for w in self._unconfirmed if w[0] <= target]
            sends = [send for _, _, sent in writes for send in sent]
            if not sends:
                return
            done, late = await asyncio.wait(sends, timeout=CHANGELOG_WAIT_S)
            failed = [e for f in done if not f.cancelled() and (e := f.exception()) is not None]
            if failed:
                target = await self._write_again(target)
                raise failed[0]
            self._drop_through(target)
            if late:
                logger.warning(
                    "windows changelog sends not acknowledged pending=%d after_s=%.1f",
                    len(late),
                    CHANGELOG_WAIT_S,
                )

        def log(exc: BaseException, attempt: int, pause_s: float) -> None:
            logger.error(
                "windows changelog send failed attempt=%d retry_in_s=%.2f error=%s",
                attempt,
                pause_s,
                exc,
            )

        await retry_async(attempt, policy=self._retry, what="windows changelog", on_retry=log)

    def _drop_through(self, upto: int) -> None:
        unconfirmed = self._unconfirmed
        while unconfirmed and unconfirmed[0][0] <= upto:
            unconfirmed.popleft()

    async def _write_again(self, upto: int) -> int:
        """Write the current state of the machines of every write up to ``upto`` again, in
        one write whose number is returned; those writes are then done with."""
        self.changelog_failures += 1
        self._failure_counter.inc()
        async with self._lock:
            keys = {key for n, written, _ in self._unconfirmed if n <= upto for key in written}
            self._drop_through(upto)
            again = {key: state for key in keys if (state := self._table.get(key)) is not None}
            number = self._write(again)
        logger.error("windows changelog: writing the state of machines=%d again", len(again))
        return number

    def _forget(self, machine_id: str) -> None:
        self._seen_ms.pop(machine_id, None)
        self._checked_pane.pop(machine_id, None)

    async def run_idle_closer(self) -> None:
        """Close idle machines' windows once a second. Their InfluxDB rows are written
        here (the aggregates topic is published first)."""
        while True:
            await asyncio.sleep(1.0)
            closed = await self.close_idle(now_ms())
            if closed and self._idle_writer is not None:
                await self._idle_writer(aggregate_lines(closed))
