"""A bucket's lines sorted by the InfluxDB server of their plant
(:class:`pipeline.sink.plants.PlantSinks`), as entries of the storage batcher: one per
server, each written, retried and dead-lettered on its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pipeline.sink.influx import InfluxSink
from pipeline.sink.plants import PlantSinks
from pipeline.storage.delivery import Write

# (what, write, lines, the records they came from): what StorageBatcher.add takes per bucket.
Entry = tuple[str, Write, Sequence[str], Sequence[Any] | None]
# The write of one bucket of a sink: ``lambda sink: sink.write_readings``.
Pick = Callable[[InfluxSink], Write]


def entries(
    sinks: PlantSinks,
    what: str,
    pick: Pick,
    lines: Sequence[str],
    sources: Sequence[Any] | None = None,
    *,
    plants: Sequence[str] | None = None,
) -> list[Entry]:
    """One entry per server holding some of ``lines``, named ``what`` and, with several
    servers, the server's URL. ``plants[i]``: the plant of line ``i`` when the caller knows
    it (a decoded reading's), else the line's ``plant`` tag is read."""
    if not sinks.routed:
        return [(what, pick(sinks.default), lines, sources)]
    groups: dict[InfluxSink, tuple[list[str], list[Any]]] = {}
    for index, line in enumerate(lines):
        sink = sinks.for_plant(plants[index]) if plants is not None else sinks.for_line(line)
        group = groups.get(sink)
        if group is None:
            group = groups[sink] = ([], [])
        group[0].append(line)
        if sources is not None:
            group[1].append(sources[index])
    return [
        (f"{what} {sink.url}", pick(sink), group_lines, group_sources if sources else None)
        for sink, (group_lines, group_sources) in groups.items()
    ]
