"""One sink per InfluxDB server of the plant map (:mod:`contracts.influx_servers`), and
which one a point goes to: the server of the plant it carries (the ``plant`` tag of its
line), the default for a point without a plant or of a plant not in the map."""

from __future__ import annotations

from collections.abc import Callable

from contracts.influx_servers import InfluxServer, PlantServers
from contracts.line_protocol import escape_tag_value, escaped_tag
from pipeline.sink.influx import InfluxSink

PLANT_TAG = "plant"


class PlantSinks:
    """The sinks of every server, the default first; ``make`` builds the sink of one."""

    def __init__(self, servers: PlantServers, make: Callable[[InfluxServer], InfluxSink]) -> None:
        by_server = {server: make(server) for server in servers.servers}
        self.default = by_server[servers.default]
        self.all = tuple(by_server.values())
        self._by_plant = {plant: by_server[server] for plant, server in servers.by_plant.items()}
        # The same, keyed by the plant as its lines carry it (escaped), for for_line.
        self._by_tag = {escape_tag_value(p): sink for p, sink in self._by_plant.items()}

    @property
    def routed(self) -> bool:
        """More than one server: each point's plant must be looked at."""
        return len(self.all) > 1

    def for_plant(self, plant: str) -> InfluxSink:
        return self._by_plant.get(plant, self.default) if plant else self.default

    def for_line(self, line: str) -> InfluxSink:
        """The sink of the plant a line-protocol point carries in its ``plant`` tag."""
        if not self.routed:
            return self.default
        return self._by_tag.get(escaped_tag(line, PLANT_TAG), self.default)
