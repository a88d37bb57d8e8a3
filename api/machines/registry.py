"""Machine registry: the machines topic read to its end at start-up, then followed.

Two kinds of record share the topic: the connectors' :class:`MachineInfo` (key = machine
id) and the API's overlay (key = ``<machine_id>/api``, see :mod:`api.machines.overlay`);
a machine is shown as their merge.
"""

from __future__ import annotations

import logging

from api.kafka.compacted import decode_keyed
from api.kafka.producer import KafkaPublisher
from api.kafka.store import CompactedStore
from api.machines.overlay import OVERLAY_SUFFIX, MachineOverlay, decode_overlay, merged
from contracts.errors import ContractError
from contracts.machines import MachineInfo, decode_machine
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record

logger = logging.getLogger(__name__)


def machine_sort_key(machine_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order first, then the others alphabetically."""
    if machine_id.isdigit():
        return (0, int(machine_id), "")
    return (1, 0, machine_id)


class MachineTable:
    """Machine id -> connector record and API overlay, in offset order; tombstones delete."""

    def __init__(self) -> None:
        self._base: dict[str, MachineInfo] = {}
        self._overlay: dict[str, MachineOverlay] = {}

    def __len__(self) -> int:
        return len(self.all())

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is not None and key.endswith(OVERLAY_SUFFIX.encode()):
            self._apply_overlay(key, value)
            return
        record = decode_keyed(
            key, value, decode=decode_machine, key_of=lambda m: m.machine_id, what="machine"
        )
        if record is None:
            return
        if record.value is None:
            self._base.pop(record.key, None)
        else:
            self._base[record.key] = record.value

    def _apply_overlay(self, key: bytes, value: bytes | None) -> None:
        machine_id = key.decode(errors="replace").removesuffix(OVERLAY_SUFFIX)
        if value is None:
            self._overlay.pop(machine_id, None)
            return
        try:
            overlay = decode_overlay(value)
        except ContractError as exc:
            logger.warning("machine overlay ignored key=%r error=%s", key, exc)
            return
        if overlay.machine_id != machine_id:
            logger.warning("machine overlay ignored key=%r reason=value names another", key)
            return
        self._overlay[machine_id] = overlay

    def get(self, machine_id: str) -> MachineInfo | None:
        return merged(self._base.get(machine_id), self._overlay.get(machine_id))

    def connector_record(self, machine_id: str) -> MachineInfo | None:
        """What the machine's connector last published, whatever the overlay says."""
        return self._base.get(machine_id)

    def overlay(self, machine_id: str) -> MachineOverlay | None:
        return self._overlay.get(machine_id)

    def all(self) -> list[MachineInfo]:
        ids = sorted(set(self._base) | set(self._overlay), key=machine_sort_key)
        return [m for m in (self.get(i) for i in ids) if m is not None]


class MachineRegistry(CompactedStore):
    """The machines topic, kept current in memory; the API's writes show at once."""

    def __init__(
        self, *, kafka: KafkaConnection, topic: str, publisher: KafkaPublisher | None = None
    ) -> None:
        self.table = MachineTable()
        super().__init__(
            kafka=kafka,
            topic=topic,
            publisher=publisher,
            apply=self.table.apply,
        )

    def get(self, machine_id: str) -> MachineInfo | None:
        return self.table.get(machine_id)

    def all(self) -> list[MachineInfo]:
        return self.table.all()

    async def write_overlay(self, overlay: MachineOverlay) -> None:
        """Produce the overlay, wait for Kafka's ack, then apply it here (read your write)."""
        await self.write([Record(overlay.key(), overlay.encode())])
