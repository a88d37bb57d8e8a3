"""The maintenance topic in memory: machine id -> schedule id -> schedule."""

from __future__ import annotations

from datetime import date

from api.kafka.keyed import decode_keyed
from api.kafka.producer import KafkaPublisher
from api.kafka.store import CompactedStore
from contracts.errors import ContractError
from contracts.maintenance import MaintenanceSchedule, decode_maintenance, maintenance_key
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record


def parse_maintenance_key(key: bytes) -> tuple[str, str]:
    """``<machine_id>/<schedule_id>`` -> both ids."""
    machine_id, sep, schedule_id = key.decode(errors="replace").rpartition("/")
    if not sep:
        raise ContractError("maintenance key: not <machine_id>/<schedule_id>")
    return machine_id, schedule_id


class MaintenanceTable:
    """Schedules applied in offset order, kept by machine; a tombstone deletes one."""

    def __init__(self) -> None:
        self._by_machine: dict[str, dict[str, MaintenanceSchedule]] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        record = decode_keyed(
            key,
            value,
            parse_key=parse_maintenance_key,
            decode=decode_maintenance,
            key_of=lambda s: (s.machine_id, s.schedule_id),
            what="maintenance",
        )
        if record is None:
            return
        machine_id, schedule_id = record.key
        if record.value is not None:
            self._by_machine.setdefault(machine_id, {})[schedule_id] = record.value
            return
        schedules = self._by_machine.get(machine_id)
        if schedules is not None:
            schedules.pop(schedule_id, None)
            if not schedules:
                del self._by_machine[machine_id]

    def get(self, machine_id: str, schedule_id: str) -> MaintenanceSchedule | None:
        return self._by_machine.get(machine_id, {}).get(schedule_id)

    def of_machine(self, machine_id: str) -> list[MaintenanceSchedule]:
        """The machine's schedules, the soonest due first."""
        schedules = self._by_machine.get(machine_id, {}).values()
        return sorted(schedules, key=lambda s: (s.next_due(), s.schedule_id))

    def last_done(self, machine_id: str) -> date | None:
        """The latest ``done_at`` of the machine's schedules (``last_maintenance``)."""
        done = [s.done_at for s in self._by_machine.get(machine_id, {}).values() if s.done_at]
        return max(done, default=None)


class MaintenanceStore(CompactedStore):
    """Every replica reads the whole topic; a write shows here once Kafka acknowledged it."""

    def __init__(self, *, kafka: KafkaConnection, topic: str, publisher: KafkaPublisher) -> None:
        self.table = MaintenanceTable()
        super().__init__(
            kafka=kafka,
            topic=topic,
            publisher=publisher,
            apply=self.table.apply,
        )

    async def put(self, schedule: MaintenanceSchedule) -> None:
        await self.write([Record(schedule.key(), schedule.encode())])

    async def delete(self, machine_id: str, schedule_id: str) -> None:
        await self.write([Record(maintenance_key(machine_id, schedule_id), None)])
