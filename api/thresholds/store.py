"""The thresholds topic in memory, with the pipeline's rule of precedence.

A machine's own record for a sensor replaces the ``*`` default for that sensor whole; the
built-in defaults (:func:`contracts.thresholds.default_thresholds`) apply until a ``*``
record or tombstone replaces them, as in the pipeline's rule set.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal

from api.kafka.keyed import KeyedTable
from api.kafka.producer import KafkaPublisher
from api.kafka.store import CompactedStore
from contracts.thresholds import (
    ALL_MACHINES,
    SensorThresholds,
    decode_thresholds,
    default_thresholds,
    parse_thresholds_key,
    thresholds_key,
)
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record

Source = Literal["machine", "default"]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes a key."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class ThresholdsTable(KeyedTable[tuple[str, str], SensorThresholds]):
    """``(machine_id, sensor)`` -> record, applied in offset order; tombstones delete."""

    def __init__(self) -> None:
        super().__init__(
            parse_key=parse_thresholds_key,
            decode=decode_thresholds,
            key_of=lambda r: (r.machine_id, r.sensor),
            what="thresholds",
        )
        for record in default_thresholds():
            self.put(record)

    def own(self, machine_id: str, sensor: str) -> SensorThresholds | None:
        return self.get((machine_id, sensor))

    def effective(self, machine_id: str, sensor: str) -> tuple[SensorThresholds, Source] | None:
        own = self.get((machine_id, sensor))
        if own is not None:
            return own, "machine" if machine_id != ALL_MACHINES else "default"
        default = self.get((ALL_MACHINES, sensor))
        return (default, "default") if default is not None else None

    def for_machine(self, machine_id: str) -> dict[str, tuple[SensorThresholds, Source]]:
        """Every sensor with rules for ``machine_id``, sorted by sensor name."""
        sensors = {s for (m, s) in self if m in (machine_id, ALL_MACHINES)}
        out: dict[str, tuple[SensorThresholds, Source]] = {}
        for sensor in sorted(sensors):
            found = self.effective(machine_id, sensor)
            if found is not None:
                out[sensor] = found
        return out

    def own_sensors(self, machine_id: str) -> list[str]:
        return sorted(s for (m, s) in self if m == machine_id)


class ThresholdsStore(CompactedStore):
    """The thresholds topic kept current in memory; writes wait for Kafka's ack, then show
    in this replica's view at once (read your own write)."""

    def __init__(self, *, kafka: KafkaConnection, topic: str, publisher: KafkaPublisher) -> None:
        self.table = ThresholdsTable()
        super().__init__(
            kafka=kafka,
            topic=topic,
            publisher=publisher,
            apply=self.table.apply,
        )

    async def write_rules(
        self, puts: Sequence[SensorThresholds], deletes: Sequence[tuple[str, str]] = ()
    ) -> None:
        records = [Record(r.key(), r.encode()) for r in puts]
        records += [Record(thresholds_key(m, s), None) for m, s in deletes]
        await self.write(records)
