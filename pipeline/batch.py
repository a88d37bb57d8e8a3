"""Planning one batch of readings records, without I/O: decode, alarms, line protocol.

:func:`plan_batch` turns the consumed records into everything the edges must do for them:
the InfluxDB lines, the alarm events, the dead letters and the alarm states to keep. The
state of each machine is loaded once per batch and threaded through its readings in
offset order (one machine's readings share a partition, so they arrive in order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.alarms import AlarmEvent
from contracts.errors import ContractError
from contracts.readings import Reading, decode_reading
from pipeline.alarm_rules import LimitRule, MachineAlarmState, evaluate
from pipeline.dead_letter import DeadLetter, SourceRecord
from pipeline.line_protocol import alarm_line, reading_line

logger = logging.getLogger(__name__)

StateLoader = Callable[[str], Mapping[str, Any] | None]


@dataclass(slots=True)
class BatchPlan:
    reading_lines: list[str] = field(default_factory=list)
    # The record each reading line came from, index for index.
    reading_sources: list[SourceRecord] = field(default_factory=list)
    # The decoded readings, in offset order (for the alarm processor).
    readings: list[Reading] = field(default_factory=list)
    alarm_events: list[AlarmEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # New alarm state of each machine whose alarms changed in this batch.
    states: dict[str, MachineAlarmState] = field(default_factory=dict)

    @property
    def alarm_lines(self) -> list[str]:
        return [alarm_line(event) for event in self.alarm_events]


def plan_batch(
    records: Iterable[SourceRecord],
    *,
    rules: Sequence[LimitRule],
    load_state: StateLoader,
    now_ms: int,
) -> BatchPlan:
    """Decode ``records``, evaluate ``rules`` and build the lines; never raises on bad data.

    A record that does not decode becomes a dead letter whose reason names the field;
    the records around it are processed as usual.
    """
    plan = BatchPlan()
    working: dict[str, MachineAlarmState] = {}
    for record in records:
        if record.value is None:
            plan.dead_letters.append(
                DeadLetter.build(
                    record,
                    reason="value: missing (null record)",
                    stage="decode",
                    failed_at_ms=now_ms,
                )
            )
            continue
        try:
            reading = decode_reading(record.value)
        except ContractError as exc:
            plan.dead_letters.append(
                DeadLetter.build(record, reason=str(exc), stage="decode", failed_at_ms=now_ms)
            )
            continue
        except Exception as exc:
            # The contract should have named the field; still, one odd record must not
            # stop the stream.
            logger.warning(
                "reading decode failed unexpectedly topic=%s partition=%d offset=%d error=%r",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            plan.dead_letters.append(
                DeadLetter.build(
                    record,
                    reason=f"reading: cannot be decoded ({type(exc).__name__}: {exc})",
                    stage="decode",
                    failed_at_ms=now_ms,
                )
            )
            continue
        plan.reading_lines.append(reading_line(reading))
        plan.reading_sources.append(record)
        plan.readings.append(reading)
        machine_id = reading.machine_id
        state = working.get(machine_id)
        if state is None:
            loaded = load_state(machine_id)
            state = dict(loaded) if loaded else {}
        new_state, events = evaluate(state, reading, rules)
        working[machine_id] = new_state
        if events:
            plan.alarm_events.extend(events)
            plan.states[machine_id] = new_state
    return plan
