"""Machine registry: the machines topic read to its end at start-up, then followed.

Two kinds of record share the topic: the connectors' :class:`MachineInfo` (key = machine
id) and the API's overlay (key = ``<machine_id>/api``, see :mod:`api.machines.overlay`);
a machine is shown as their merge.
"""

from __future__ import annotations

from api.kafka.keyed import KeyedTable, text_key
from api.kafka.producer import KafkaPublisher
from api.kafka.store import CompactedStore
from api.machines.overlay import OVERLAY_SUFFIX, MachineOverlay, decode_overlay, merged
from contracts.machines import MachineInfo, decode_machine
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record


def machine_sort_key(machine_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order first, then the others alphabetically."""
    if machine_id.isdigit():
        return (0, int(machine_id), "")
    return (1, 0, machine_id)


class MachineTable:
    """Machine id -> connector record and API overlay, in offset order; tombstones delete."""

    def __init__(self) -> None:
        self._base = KeyedTable(
            parse_key=text_key, decode=decode_machine, key_of=lambda m: m.machine_id, what="machine"
        )
        self._overlay = KeyedTable(
            decode=decode_overlay,
            key_of=lambda o: o.machine_id,
            what="machine overlay",
            parse_key=lambda key: text_key(key).removesuffix(OVERLAY_SUFFIX),
        )

    def __len__(self) -> int:
        return len(self.all())

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is not None and key.endswith(OVERLAY_SUFFIX.encode()):
            self._overlay.apply(key, value)
        else:
            self._base.apply(key, value)

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

    def stored_plant(self, machine_id: str) -> str:
        """The plant whose InfluxDB holds the machine's points: the plant its connector
        publishes (its readings carry that one), else the plant set through the API (the
        API gives it to readings posted without one); ``""`` for an unknown machine."""
        info = self.table.connector_record(machine_id) or self.table.get(machine_id)
        return info.plant if info is not None else ""

    async def write_overlay(self, overlay: MachineOverlay) -> None:
        """Produce the overlay, wait for Kafka's ack, then apply it here (read your write)."""
        await self.write([Record(overlay.key(), overlay.encode())])
