"""The fixed high-limit rule of :mod:`pipeline.alarm_rules` behind the alarm-processor
interface (``process(readings, now_ms) -> events``), until the ISA-18.2 engine in
``pipeline.alarms`` replaces it: evaluate, publish the events, then store the state."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from contracts.alarms import AlarmEvent
from contracts.readings import Reading
from pipeline.alarm_rules import LimitRule, MachineAlarmState, evaluate
from pipeline.delivery import Publisher, RetryPolicy, until_done


class LegacyAlarmProcessor:
    def __init__(
        self,
        *,
        table: MutableMapping[bytes, Any],
        rules: Sequence[LimitRule],
        publisher: Publisher,
        alarms_topic: str,
        retry: RetryPolicy,
    ) -> None:
        self._table = table
        self._rules = rules
        self._publisher = publisher
        self._topic = alarms_topic
        self._retry = retry

    async def process(self, readings: Sequence[Reading], now_ms: int) -> list[AlarmEvent]:
        working: dict[str, MachineAlarmState] = {}
        changed: set[str] = set()
        events: list[AlarmEvent] = []
        for reading in readings:
            machine_id = reading.machine_id
            state = working.get(machine_id)
            if state is None:
                loaded = self._table.get(machine_id.encode())
                state = dict(loaded) if loaded else {}
            new_state, new_events = evaluate(state, reading, self._rules)
            working[machine_id] = new_state
            if new_events:
                events.extend(new_events)
                changed.add(machine_id)
        if events:
            records = [(e.key(), e.encode()) for e in events]

            async def publish() -> None:
                await self._publisher.publish(self._topic, records)

            await until_done(publish, what="publish_alarms", retry=self._retry)
            for machine_id in changed:
                self._table[machine_id.encode()] = working[machine_id]
        return events
