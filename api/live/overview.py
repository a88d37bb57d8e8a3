"""Overview subscriptions: the latest reading of every machine (of one plant, or of all),
coalesced server-side and sent at most once per interval.

A reading only updates the machine's latest reading and marks it changed for the groups
that watch its plant (a dict write and a set add); the frame is built and encoded once
per group and interval, whatever the number of clients in the group. Clients asking for
the same plant, interval and sensors share one group, and so one frame and one timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from api.live.client import LiveClient
from api.live.frames import reading_frame
from api.live.matching import filter_frame
from contracts.readings import Reading
from contracts.timefmt import format_ts, now_ms

logger = logging.getLogger(__name__)

GroupKey = tuple[str | None, int, tuple[str, ...]]


@dataclass(eq=False)
class OverviewGroup:
    plant: str | None
    interval_ms: int
    sensors: tuple[str, ...]
    clients: set[LiveClient] = field(default_factory=set)
    # Machines whose latest reading changed since the group's last frame, in arrival order.
    changed: dict[str, None] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    @property
    def key(self) -> GroupKey:
        return (self.plant, self.interval_ms, self.sensors)


class Overviews:
    """Every overview group of one hub, and the latest reading per machine they share."""

    def __init__(self) -> None:
        self.latest: dict[str, Reading] = {}
        self._groups: dict[GroupKey, OverviewGroup] = {}
        self._by_plant: dict[str | None, list[OverviewGroup]] = {}
        self._of_client: dict[LiveClient, OverviewGroup] = {}
        self.frames_sent = 0

    @property
    def active(self) -> bool:
        return bool(self._groups)

    def note(self, reading: Reading) -> None:
        """A new reading: keep it as its machine's latest, mark it for its plant's groups."""
        machine_id = reading.machine_id
        self.latest[machine_id] = reading
        for group in self._by_plant.get(None, ()):
            group.changed[machine_id] = None
        if reading.plant:
            for group in self._by_plant.get(reading.plant, ()):
                group.changed[machine_id] = None

    def join(
        self, client: LiveClient, plant: str | None, interval_ms: int, sensors: tuple[str, ...]
    ) -> None:
        """Move ``client`` to the group of (plant, interval, sensors) and send it a snapshot
        of the latest readings that group sees."""
        self.leave(client)
        key: GroupKey = (plant, interval_ms, sensors)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = OverviewGroup(plant, interval_ms, sensors)
            self._by_plant.setdefault(plant, []).append(group)
            group.task = asyncio.create_task(self._run(group), name="live-overview")
        group.clients.add(client)
        self._of_client[client] = group
        machines = [r for r in self.latest.values() if plant is None or r.plant == plant]
        client.push_reading(self._encode(group, machines, snapshot=True))

    def leave(self, client: LiveClient) -> None:
        group = self._of_client.pop(client, None)
        if group is None:
            return
        group.clients.discard(client)
        if group.clients:
            return
        del self._groups[group.key]
        siblings = self._by_plant[group.plant]
        siblings.remove(group)
        if not siblings:
            del self._by_plant[group.plant]
        if group.task is not None:
            group.task.cancel()

    async def close(self) -> None:
        tasks = [g.task for g in self._groups.values() if g.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, group: OverviewGroup) -> None:
        interval_s = group.interval_ms / 1000
        while True:
            await asyncio.sleep(interval_s)
            self.flush(group)

    def flush(self, group: OverviewGroup) -> None:
        """Send the group's clients one frame of the machines changed since the last."""
        if not group.changed:
            return
        changed, group.changed = group.changed, {}
        machines = [self.latest[m] for m in changed if m in self.latest]
        data = self._encode(group, machines, snapshot=False)
        self.frames_sent += 1
        for client in list(group.clients):
            client.push_reading(data)

    def _encode(self, group: OverviewGroup, readings: list[Reading], *, snapshot: bool) -> bytes:
        machines: list[dict[str, Any]] = []
        for reading in readings:
            entry = filter_frame(reading_frame(reading), reading.values, group.sensors)
            if entry is None:
                continue
            del entry["type"]
            entry["plant"] = reading.plant
            entry["line"] = reading.line
            machines.append(entry)
        return orjson.dumps(
            {
                "type": "overview",
                "ts": format_ts(now_ms()),
                "plant": group.plant,
                "snapshot": snapshot,
                "machines": machines,
            }
        )


def overview_ack(plant: str | None, interval_ms: int, sensors: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "subscribed_overview",
        "plant": plant,
        "interval_ms": interval_ms,
        "sensors": list(sensors),
    }
