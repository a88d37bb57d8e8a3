"""When the alarm timer must look at a machine next, so a tick looks at the due ones only.

Time alone changes a machine's alarms in four ways (:func:`alarmrules.engine.advance` and
:func:`alarmrules.actions.expire_shelves`): a pending on- or off-delay falls due, a sensor
with a stale-data rule has had no good value for its time, the machine has been silent for
the comm-loss time, a shelve runs out. :func:`next_due_ms` is the earliest wall time at
which one of them can happen for a stored state; a stale-data or comm-loss alarm that is
already active waits for a reading or an action instead, which reschedule the machine.

The first three are in the machine's reading time, which the timer estimates as the time
of its last reading plus the wall time since it was processed here (its *clock*); a
shelve's end is wall time.

:class:`TimerSchedule` keeps the clocks and a :class:`~pipeline.due_queue.DueQueue` of
machines. It learns of machines the worker did not process itself (the table recovered at
start-up or after a rebalance: their silence counts from when they are found) by reading
the whole table only when its size, the partitions this worker owns or the rules changed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, MutableMapping
from typing import Any

from alarmrules.engine import EngineConfig
from contracts.alarms import COMM_LOSS_SENSOR
from contracts.thresholds import SensorThresholds
from pipeline.due_queue import DueQueue

# Per machine: (time of its last reading, wall time it was processed here).
Clock = tuple[int, int]
_COMM_LOSS_KEY = f"{COMM_LOSS_SENSOR}:comm_loss"
RulesOf = Callable[[str], Mapping[str, SensorThresholds]]


def _active(alarms: Mapping[str, Any], key: str) -> bool:
    entry = alarms.get(key)
    return isinstance(entry, dict) and bool(entry.get("active"))


def last_reading_ms(raw: Mapping[str, Any], clock: Clock | None) -> int | None:
    """The time of the machine's last reading: the clock's when it is newer than the stored
    record's, which is written only every few seconds of reading time when nothing else
    changed."""
    last_ts_ms = raw.get("last_ts_ms")
    if not isinstance(last_ts_ms, int):
        return None
    return clock[0] if clock is not None and clock[0] > last_ts_ms else last_ts_ms


def next_due_ms(
    raw: Mapping[str, Any],
    clock: Clock | None,
    rules: Mapping[str, SensorThresholds],
    config: EngineConfig,
) -> int | None:
    """The earliest wall time at which time alone may change the stored state ``raw`` (0:
    now), or None when only a reading or an action can."""
    alarms: Mapping[str, Any] = raw.get("alarms") or {}
    if not alarms and not raw.get("sensors"):
        # Most machines: no alarm and no sensor memory, so only silence can change them.
        after_ms = config.comm_loss_after_ms
        last_ts_ms = last_reading_ms(raw, clock)
        if clock is None or after_ms is None or last_ts_ms is None:
            return None
        at, seen_ms = clock
        silent = last_ts_ms + after_ms
        return seen_ms + silent - at if silent > at else 0
    wall: list[int] = []
    machine: list[int] = []
    for entry in alarms.values():
        pending = entry.get("pending")
        if pending:
            machine.append(pending["due_ms"])
        until = entry.get("shelved_until_ts_ms")
        if entry.get("state") == "shelved" and until is not None:
            wall.append(until)
    if clock is not None:
        sensors: Mapping[str, Any] = raw.get("sensors") or {}
        for sensor, record in rules.items():
            memory = sensors.get(sensor)
            if record.stale_after_s is None or not memory or memory.get("good_ts_ms") is None:
                continue
            if not _active(alarms, f"{sensor}:stale"):
                machine.append(memory["good_ts_ms"] + round(record.stale_after_s * 1000))
        after_ms = config.comm_loss_after_ms
        last_ts_ms = last_reading_ms(raw, clock)
        if after_ms is not None and last_ts_ms is not None and not _active(alarms, _COMM_LOSS_KEY):
            machine.append(last_ts_ms + after_ms)
        if machine:
            at, seen_ms = clock
            first = min(machine)
            # advance() runs at clock[0] + max(0, now - clock[1]): due once that reaches it.
            wall.append(seen_ms + first - at if first > at else 0)
    return min(wall) if wall else None


class TimerSchedule:
    """The machines of one worker's alarm-state table by the time the timer is due there."""

    def __init__(self, *, owns: Callable[[str], bool], config: EngineConfig) -> None:
        self._owns = owns
        self._config = config
        self.clock: dict[str, Clock] = {}
        self._queue: DueQueue[str] = DueQueue()
        # Machines known to be in the table, in the order they came (the tick's order).
        self._order: dict[str, int] = {}
        # What the table was last read for (the partitions owned, the rules' version).
        self._scanned: Hashable = None

    def note(self, machine_id: str, raw: Any, rules: Mapping[str, SensorThresholds]) -> None:
        """``raw`` is now the stored state of ``machine_id``: look at it when it is due."""
        self._order.setdefault(machine_id, len(self._order))
        if not isinstance(raw, dict):
            return
        due = next_due_ms(raw, self.clock.get(machine_id), rules, self._config)
        if due is not None:
            self._queue.at_most(machine_id, due)

    def queued(self, machine_id: str) -> bool:
        return machine_id in self._queue

    def later(self, machine_id: str, due_ms: int) -> None:
        self._queue.at_most(machine_id, due_ms)

    def due(
        self,
        table: MutableMapping[bytes, Any],
        now_ms: int,
        rules_of: RulesOf,
        *,
        assignment: Hashable,
    ) -> list[str]:
        """The machines to look at now, in table order (each taken off the queue; the
        caller puts back those still waiting with :meth:`note` or :meth:`later`).
        ``assignment`` changes when what this worker owns or the rules changed."""
        if assignment != self._scanned or len(table) != len(self._order):
            self._scan(table, now_ms, rules_of)
            self._scanned = assignment
        due = self._queue.pop_due(now_ms)
        order = self._order
        due.sort(key=lambda m: order.get(m, len(order)))
        return due

    def owned(self, machine_id: str) -> bool:
        if self._owns(machine_id):
            return True
        self.clock.pop(machine_id, None)
        self._queue.discard(machine_id)
        return False

    def clock_of(self, machine_id: str, raw: Mapping[str, Any], now_ms: int) -> Clock | None:
        """The machine's clock; a machine taken over (start-up, rebalance) is silent from
        ``now_ms`` on."""
        clock = self.clock.get(machine_id)
        last_ts_ms = raw.get("last_ts_ms")
        if clock is None and isinstance(last_ts_ms, int):
            clock = self.clock[machine_id] = (last_ts_ms, now_ms)
        return clock

    def _scan(self, table: MutableMapping[bytes, Any], now_ms: int, rules_of: RulesOf) -> None:
        """Read the whole table: the machines it holds now, and when each is due."""
        self._queue.clear()
        self._order.clear()
        for key in list(table.keys()):
            machine_id = key.decode() if isinstance(key, bytes) else str(key)
            self._order[machine_id] = len(self._order)
            if not self.owned(machine_id):
                continue
            raw = table.get(key)
            if not isinstance(raw, dict):
                continue
            self.clock_of(machine_id, raw, now_ms)
            self.note(machine_id, raw, rules_of(machine_id))
