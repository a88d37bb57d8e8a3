"""Alarm states (the compacted alarm-state topic, written by the pipeline) in memory, and
the operator actions the API produces to the alarm-actions topic."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from api.kafka.keyed import KeyedTable, text_key
from api.kafka.producer import KafkaPublisher
from api.kafka.store import CompactedStore
from contracts.alarm_actions import AlarmAction, AlarmActionKind
from contracts.alarm_state import AlarmStateRecord, decode_alarm_state
from contracts.timefmt import now_ms
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """Every given field must match; ``None`` matches anything."""

    states: frozenset[str] | None = None
    severities: frozenset[str] | None = None
    plant: str | None = None
    machine_id: str | None = None
    active: bool | None = None

    def matches(self, record: AlarmStateRecord) -> bool:
        return (
            (self.states is None or record.state in self.states)
            and (self.severities is None or record.severity in self.severities)
            and (self.plant is None or record.plant == self.plant)
            and (self.machine_id is None or record.machine_id == self.machine_id)
            and (self.active is None or record.active == self.active)
        )


class AlarmTable(KeyedTable[str, AlarmStateRecord]):
    """Alarm id -> latest state record, in offset order; tombstones delete."""

    def __init__(self) -> None:
        super().__init__(
            parse_key=text_key,
            decode=decode_alarm_state,
            key_of=lambda a: a.alarm_id,
            what="alarm state",
        )

    def select(self, where: AlarmFilter, *, limit: int) -> list[AlarmStateRecord]:
        """Matching alarms, the most recently changed first."""
        found: Iterable[AlarmStateRecord] = (a for a in self.values() if where.matches(a))
        return sorted(found, key=lambda a: (-a.updated_ts_ms, a.alarm_id))[:limit]


def make_action(
    record: AlarmStateRecord, kind: AlarmActionKind, by: str, **fields: Any
) -> AlarmAction:
    """An operator action on the alarm ``record`` names."""
    return AlarmAction(
        action_id=uuid.uuid4().hex,
        action=kind,
        machine_id=record.machine_id,
        sensor=record.sensor,
        rule=record.rule,
        by=by,
        ts_ms=now_ms(),
        **fields,
    )


class AlarmStore(CompactedStore):
    """Alarm states read from the pipeline's compacted topic (the API never writes there);
    operator actions go to the alarm-actions topic."""

    def __init__(
        self,
        *,
        kafka: KafkaConnection,
        state_topic: str,
        actions_topic: str,
        publisher: KafkaPublisher,
    ) -> None:
        self.table = AlarmTable()
        self.actions_topic = actions_topic
        super().__init__(
            kafka=kafka,
            topic=state_topic,
            publisher=publisher,
            apply=self.table.apply,
        )

    def active_of(self, machine_id: str) -> list[AlarmStateRecord]:
        """The machine's alarms whose condition is present and that are not shelved, the
        most recently changed first."""
        where = AlarmFilter(machine_id=machine_id, active=True)
        return [a for a in self.table.select(where, limit=10_000) if a.state != "shelved"]

    async def submit(self, action: AlarmAction) -> None:
        """Produce one action and wait for Kafka's ack; the pipeline applies it."""
        await self.publisher.publish(self.actions_topic, [Record(action.key(), action.encode())])
        logger.info(
            "alarm action submitted action=%s alarm_id=%s by=%s",
            action.action,
            action.alarm_id,
            action.by,
        )
