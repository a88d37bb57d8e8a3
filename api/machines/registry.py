"""Machine registry: the machines topic read to its end at start-up, then followed."""

from __future__ import annotations

import logging
from typing import Any

from api.kafka.compacted import CompactedTopicReader
from contracts.errors import ContractError
from contracts.machines import MachineInfo, decode_machine
from contracts.readings import machine_id_json

logger = logging.getLogger(__name__)


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
        if key is None:
            logger.warning("machine record without a key ignored")
            return
        machine_id = key.decode(errors="replace")
        if value is None:
            self._machines.pop(machine_id, None)
            return
        try:
            info = decode_machine(value)
        except ContractError as exc:
            logger.warning("machine record ignored machine_id=%s error=%s", machine_id, exc)
            return
        if info.machine_id != machine_id:
            logger.warning(
                "machine record ignored key=%s reason=value names machine_id %s",
                machine_id,
                info.machine_id,
            )
            return
        self._machines[machine_id] = info

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
