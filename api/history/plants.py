"""The history readers of every InfluxDB server of the plant map
(:mod:`contracts.influx_servers`), and which one answers a query.

A machine's history (readings, aggregates, latest values, its alarm journal, backtests) is
read from the server of its plant as the machine registry knows it
(:meth:`api.machines.registry.MachineRegistry.stored_plant`); a query of one plant from
that plant's server; a query of every plant from every server, the answers joined. The
audit, which belongs to no plant, is on the default server, as is an unknown machine's
history. Readiness checks the default server only: a plant's server that is away fails
that plant's queries (503), not the whole API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from api.history.reader import HistoryReader
from contracts.influx_servers import InfluxServer, PlantServers

R = TypeVar("R")


class PlantHistory:
    def __init__(
        self,
        servers: PlantServers,
        make: Callable[[InfluxServer], HistoryReader],
        plant_of: Callable[[str], str],
    ) -> None:
        by_server = {server: make(server) for server in servers.servers}
        self.default = by_server[servers.default]
        self.all = tuple(by_server.values())
        self._by_plant = {plant: by_server[server] for plant, server in servers.by_plant.items()}
        self._plant_of = plant_of

    def for_plant(self, plant: str | None) -> HistoryReader:
        return self._by_plant.get(plant, self.default) if plant else self.default

    def for_machine(self, machine_id: str) -> HistoryReader:
        return self.for_plant(self._plant_of(machine_id))

    def of(
        self, *, plant: str | None = None, machine_id: str | None = None
    ) -> tuple[HistoryReader, ...]:
        """The servers a query filtered by ``plant`` or ``machine_id`` (either may be None)
        must ask: one, or every server when neither is given."""
        if machine_id is not None:
            return (self.for_machine(machine_id),)
        if plant is not None:
            return (self.for_plant(plant),)
        return self.all

    async def query_each(
        self,
        readers: tuple[HistoryReader, ...],
        flux: Callable[[HistoryReader], str],
        parse: Callable[[str], list[R]],
        *,
        order: Callable[[R], Any],
        newest_first: bool = False,
    ) -> list[R]:
        """The rows of ``flux`` (built per reader, with its buckets) from each of
        ``readers``, each server's already in ``order``; the answers of several servers
        are joined and sorted by it."""
        answers = await asyncio.gather(
            *(reader.query_rows(flux(reader), parse) for reader in readers)
        )
        rows = [row for rows in answers for row in rows]
        if len(answers) > 1:
            rows.sort(key=order, reverse=newest_first)
        return rows

    async def check(self, *, timeout_s: float) -> None:
        """Readiness: the default server answers (see the module's docstring)."""
        await self.default.check(timeout_s=timeout_s)

    async def start(self) -> None:
        for reader in self.all:
            await reader.start()

    async def stop(self) -> None:
        for reader in self.all:
            await reader.stop()
