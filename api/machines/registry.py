"""Machine registry: the machines topic read to its end at start-up, then followed."""

from __future__ import annotations

from typing import Any

from api.kafka.compacted import CompactedTopicReader, decode_keyed
from contracts.machines import MachineInfo, decode_machine
from contracts.readings import machine_id_json


def machine_view(info: MachineInfo) -> dict[str, Any]:
    """A registry entry as the REST API shows it (numeric ids as numbers, like the seed)."""
    out = info.model_dump(mode="json")
    out["machine_id"] = machine_id_json(info.machine_id)
    return out


def machine_sort_key(machine_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order first, then the others alphabetically."""
    if machine_id.isdigit():
        return (0, int(machine_id), "")
    return (1, 0, machine_id)


class MachineTable:
    """Machine id -> entry, built from records in offset order; tombstones delete."""

    def __init__(self) -> None:
        self._machines: dict[str, MachineInfo] = {}

    def __len__(self) -> int:
        return len(self._machines)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        record = decode_keyed(
            key, value, decode=decode_machine, key_of=lambda m: m.machine_id, what="machine"
        )
        if record is None:
            return
        if record.value is None:
            self._machines.pop(record.key, None)
        else:
            self._machines[record.key] = record.value

    def get(self, machine_id: str) -> MachineInfo | None:
        return self._machines.get(machine_id)

    def all(self) -> list[MachineInfo]:
        return [self._machines[k] for k in sorted(self._machines, key=machine_sort_key)]


class MachineRegistry:
    """The machines topic, kept current in memory."""

    def __init__(self, *, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self.table = MachineTable()
        self._reader = CompactedTopicReader(
            bootstrap_servers=bootstrap_servers, topic=topic, apply=self.table.apply
        )

    async def start(self, *, timeout_s: float) -> None:
        await self._reader.start(timeout_s=timeout_s)

    async def stop(self) -> None:
        await self._reader.stop()

    def get(self, machine_id: str) -> MachineInfo | None:
        return self.table.get(machine_id)

    def all(self) -> list[MachineInfo]:
        return self.table.all()
