"""The alarm engine's edge in one worker: the alarm-state table, one lock, publishing.

Every change of a machine's alarms — a batch of readings, an operator action, a tick of
the timer — runs under one :class:`asyncio.Lock` from loading the state to storing it, in
this order: evaluate, publish the events (alarms topic) and the new alarm states
(alarm-state topic), then store the machine state in the table and flush the producer, so
the table's changelog holds it before the caller acks the input. (Faust buffers changelog
writes made outside a stream event, and its producer flush may return before the buffer
is sent; without waiting for the broker's acknowledgement of each changelog record,
:meth:`pipeline.faust_ext.tables.KeyPartitionedTable.changelog_durable`, a worker killed with
SIGKILL could lose them while its offsets were already committed, and its successor
reused transition numbers for different transitions.) A crash before the store
replays the input from the old state and publishes the same events with the same
``(alarm_id, seq)``, which consumers drop as duplicates; the stored state never skips a
transition that was not published.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Mapping, MutableMapping, Sequence
from typing import Any

import orjson

from alarmrules.actions import apply_action, expire_shelves
from alarmrules.engine import EngineConfig, advance, evaluate_reading
from alarmrules.lifecycle import ActionRefused
from alarmrules.state import MachineState
from contracts.alarm_actions import decode_alarm_action
from contracts.alarms import AlarmEvent
from contracts.errors import ContractError
from contracts.readings import Reading
from contracts.thresholds import SensorThresholds
from contracts.topics import TopicNames
from kafka_edge.records import Publisher, Record
from kafka_edge.retry import RetryPolicy, retry_async
from pipeline.alarms.metrics import AlarmMetrics
from pipeline.alarms.ruleset import RuleSet
from pipeline.alarms.timer import TimerSchedule, last_reading_ms, next_due_ms
from pipeline.faust_ext.tables import write_all
from pipeline.storage.dead_letter import SourceRecord, dead_letter_body

logger = logging.getLogger(__name__)

ALARM_STATE_TABLE = "alarm-state"
# Dead-letter stage of operator actions that could not be applied.
ACTION_STAGE = "alarm_action"


# The time of the last reading is stored at least this often even when nothing else
# changed: a restarted worker then sees a gap no longer than this before the next reading
# (the comm-loss time must be longer).
CLOCK_STORE_EVERY_MS = 5_000


def _clock_only(raw: Any, state: MachineState) -> bool:
    """Whether ``state`` differs from the stored ``raw`` by the time of its last reading at
    most, told without building the whole record: the common case of a machine with no
    alarm and no sensor memory."""
    return (
        not state.alarms
        and not state.sensors
        and isinstance(raw, dict)
        and not raw.get("alarms")
        and not raw.get("sensors")
        and "alarms" in raw
        and raw.get("plant") == state.plant
        and raw.get("line") == state.line
        and isinstance(raw.get("last_ts_ms"), int)
        and state.last_ts_ms is not None
    )


def _to_store(raw: Any, state: MachineState) -> dict[str, Any] | None:
    """The state to write to the table, or None when the stored one will do."""
    if _clock_only(raw, state) and state.last_ts_ms - raw["last_ts_ms"] < CLOCK_STORE_EVERY_MS:
        return None
    new = state.to_dict()
    if raw == new:
        return None
    if isinstance(raw, dict) and isinstance(raw.get("last_ts_ms"), int):
        same_but_clock = {**raw, "last_ts_ms": new["last_ts_ms"]} == new
        if same_but_clock and new["last_ts_ms"] - raw["last_ts_ms"] < CLOCK_STORE_EVERY_MS:
            return None
    return new


class AlarmProcessor:
    """One per worker process; see the module docstring for the order of things."""

    def __init__(
        self,
        *,
        table: MutableMapping[bytes, Any],
        publisher: Publisher,
        topics: TopicNames,
        rules: RuleSet | None = None,
        config: EngineConfig | None = None,
        retry: RetryPolicy | None = None,
        metrics: AlarmMetrics | None = None,
        owns: Callable[[str], bool] | None = None,
        rules_ready: asyncio.Event | None = None,
        rules_wait_s: float = 10.0,
        partitions: int | None = None,
        flush: Callable[[], Awaitable[None]] | None = None,
        assignment: Callable[[], Hashable] | None = None,
    ) -> None:
        """``owns``: whether this worker owns a machine's partition now (the timer acts only
        on those); ``assignment``: a value that changes whenever what it owns changes,
        taken once per tick before ``owns`` is asked."""
        # Waits until the broker has the table's changelog writes: a stored state must be
        # durable before the input that led to it is acked.
        self._flush = flush
        # Partitions of the table and of the topics it is co-partitioned with.
        self.partitions = partitions
        self._table = table
        self._publisher = publisher
        self._topics = topics
        self.rules = rules if rules is not None else RuleSet()
        self.config = config if config is not None else EngineConfig()
        self._retry = retry if retry is not None else RetryPolicy(initial_s=0.5, max_s=10.0)
        self.metrics = metrics if metrics is not None else AlarmMetrics()
        self._assignment = assignment if assignment is not None else (lambda: None)
        # Set by the thresholds feed once the rules present at start-up are applied.
        self.rules_ready = rules_ready if rules_ready is not None else asyncio.Event()
        self._rules_wait_s = rules_wait_s
        self.lock = asyncio.Lock()
        # Per machine: (time of its last reading, wall time it was processed here), the
        # timer's estimate of the machine's clock; and when the timer is due there.
        self._timer = TimerSchedule(
            owns=owns if owns is not None else (lambda _machine_id: True), config=self.config
        )
        self._rules_cache: dict[str, dict[str, SensorThresholds]] = {}
        # Per machine: the record last stored in the table and the state it was made from,
        # which spares loading it again on the next batch.
        self._kept: dict[str, tuple[dict[str, Any], MachineState]] = {}
        self._rules_version = -1

    # -- inputs ------------------------------------------------------------------------

    async def process(self, readings: Sequence[Reading], now_ms: int) -> list[AlarmEvent]:
        """Evaluate a batch of readings (in order); return the events published."""
        if not readings:
            return []
        await self._wait_rules()
        async with self.lock:
            loaded: dict[str, Any] = {}
            states: dict[str, MachineState] = {}
            events: list[AlarmEvent] = []
            rules: dict[str, dict[str, SensorThresholds]] = {}
            config = self.config
            for reading in readings:
                machine_id = reading.machine_id
                state = states.get(machine_id)
                if state is None:
                    state = states[machine_id] = self._load(machine_id, loaded)
                    rules[machine_id] = self._rules_for(machine_id)
                events += evaluate_reading(state, reading, rules[machine_id], config)
            stored = await self._commit(states, loaded, events)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "alarm batch readings=%d machines=%d events=%d",
                    len(readings),
                    len(states),
                    len(events),
                )
            clock = self._timer.clock
            for machine_id, state in states.items():
                if state.last_ts_ms is not None:
                    clock[machine_id] = (state.last_ts_ms, now_ms)
            self._reschedule(stored, unchanged=loaded)
            return events

    async def handle_action(self, record: SourceRecord, now_ms: int) -> list[AlarmEvent]:
        """Apply one record of the alarm-actions topic; a bad or refused action becomes a
        dead letter naming the reason. Never raises for bad input."""
        if record.value is None:
            await self._dead_letter(record, "value: missing (null record)", now_ms)
            return []
        try:
            action = decode_alarm_action(record.value)
        except ContractError as exc:
            await self._dead_letter(record, str(exc), now_ms)
            return []
        async with self.lock:
            loaded: dict[str, Any] = {}
            state = self._load(action.machine_id, loaded)
            try:
                events = apply_action(state, action)
            except ActionRefused as exc:
                logger.info(
                    "alarm action refused action_id=%s action=%s reason=%s",
                    action.action_id,
                    action.action,
                    exc,
                )
                await self._dead_letter(record, f"{action.action}: {exc}", now_ms)
                return []
            self._reschedule(await self._commit({action.machine_id: state}, loaded, events))
            return events

    async def tick(self, now_ms: int) -> list[AlarmEvent]:
        """The timer: delays due, stale data and comm loss by silence, shelve expiry; for
        the machines due now only (:mod:`pipeline.alarms.timer`)."""
        async with self.lock:
            loaded: dict[str, Any] = {}
            states: dict[str, MachineState] = {}
            events: list[AlarmEvent] = []
            timer = self._timer
            assignment = (self._assignment(), self.rules.version)
            for machine_id in timer.due(
                self._table, now_ms, self._rules_for, assignment=assignment
            ):
                if not timer.owned(machine_id):
                    continue
                raw = self._table.get(machine_id.encode())
                if not isinstance(raw, dict):
                    continue
                clock = timer.clock_of(machine_id, raw, now_ms)
                rules = self._rules_for(machine_id)
                due_ms = next_due_ms(raw, clock, rules, self.config)
                if due_ms is None:
                    continue
                if due_ms > now_ms:
                    timer.later(machine_id, due_ms)
                    continue
                state = MachineState.from_dict(machine_id, raw)
                state.last_ts_ms = last_reading_ms(raw, clock)
                new: list[AlarmEvent] = []
                if clock is not None:
                    new += advance(state, clock[0] + max(0, now_ms - clock[1]), rules, self.config)
                new += expire_shelves(state, now_ms)
                if new:
                    events += new
                    states[machine_id] = state
                    loaded[machine_id] = raw
                else:
                    # Due and nothing changed (a shelved alarm's condition): the next tick.
                    timer.later(machine_id, now_ms + 1)
            if events:
                self._reschedule(await self._commit(states, loaded, events))
            return events

    def _reschedule(
        self, stored: dict[str, Any], unchanged: Mapping[str, Any] | None = None
    ) -> None:
        """Tell the timer when each machine is due next. A machine with no alarm and no
        sensor memory whose stored record did not change (``unchanged``: the records
        loaded) and that is queued already keeps its time: only silence can change it,
        and the time queued is no later than the one its newer clock gives."""
        timer = self._timer
        for machine_id, raw in stored.items():
            if (
                unchanged is not None
                and unchanged.get(machine_id) is raw
                and isinstance(raw, dict)
                and not raw.get("alarms")
                and not raw.get("sensors")
                and timer.queued(machine_id)
            ):
                continue
            timer.note(machine_id, raw, self._rules_for(machine_id))

    # -- state and publishing ----------------------------------------------------------

    def _load(self, machine_id: str, loaded: dict[str, Any]) -> MachineState:
        """The machine's state as stored; the object :meth:`_commit` stored it from while
        the table still holds that very record (taken, so a failed change is not kept)."""
        raw = self._table.get(machine_id.encode())
        loaded[machine_id] = raw
        kept = self._kept.pop(machine_id, None)
        if kept is not None and raw is not None and kept[0] is raw:
            return kept[1]
        return MachineState.from_dict(machine_id, raw)

    def _rules_for(self, machine_id: str) -> dict[str, SensorThresholds]:
        if self._rules_version != self.rules.version:
            self._rules_cache.clear()
            self._rules_version = self.rules.version
        rules = self._rules_cache.get(machine_id)
        if rules is None:
            rules = self._rules_cache[machine_id] = self.rules.for_machine(machine_id)
        return rules

    async def _wait_rules(self) -> None:
        if self.rules_ready.is_set():
            return
        try:
            await asyncio.wait_for(self.rules_ready.wait(), timeout=self._rules_wait_s)
        except TimeoutError:
            logger.warning(
                "thresholds not loaded after wait_s=%.1f; evaluating with the rules so far",
                self._rules_wait_s,
            )
            self.rules_ready.set()

    async def _commit(
        self,
        states: dict[str, MachineState],
        loaded: dict[str, Any],
        events: list[AlarmEvent],
    ) -> dict[str, Any]:
        """Publish ``events``, store ``states``; return the state now stored per machine."""
        if events:
            latest = {}
            for event in events:
                state = states[event.machine_id]
                entry = state.alarms[f"{event.sensor}:{event.rule}"]
                latest[event.alarm_id] = state.record(entry)
            await self._publish(self._topics.alarms, [Record(e.key(), e.encode()) for e in events])
            await self._publish(
                self._topics.alarm_state, [Record(r.key(), r.encode()) for r in latest.values()]
            )
            self.metrics.observe(events)
        writes: dict[bytes, Any] = {}
        stored: dict[str, Any] = {}
        for machine_id, state in states.items():
            new = _to_store(loaded.get(machine_id), state)
            if new is not None:
                writes[machine_id.encode()] = new
                self._kept[machine_id] = (new, state)
            else:
                # The stored record will do; the state, a clock ahead of it, is kept for
                # the next batch while the table holds that record.
                self._kept[machine_id] = (loaded[machine_id], state)
            stored[machine_id] = new if new is not None else loaded.get(machine_id)
        write_all(self._table, writes)
        if writes and self._flush is not None:
            await self._flush()
        return stored

    async def _publish(self, topic: str, records: Sequence[Record]) -> None:
        """Publish until the broker has the records; back off between attempts."""

        def log(exc: BaseException, attempt: int, pause_s: float) -> None:
            logger.error(
                "alarm publish failed topic=%s records=%d attempt=%d retry_in_s=%.2f error=%s",
                topic,
                len(records),
                attempt,
                pause_s,
                exc,
            )

        await retry_async(
            lambda: self._publisher.publish(topic, records),
            policy=self._retry,
            what=f"alarm publish {topic}",
            on_retry=log,
        )

    async def _dead_letter(self, record: SourceRecord, reason: str, now_ms: int) -> None:
        body = dead_letter_body(record, reason=reason, stage="decode", failed_at_ms=now_ms)
        body["stage"] = ACTION_STAGE
        await self._publish(self._topics.dead_letter, [Record(record.key, orjson.dumps(body))])
