"""InfluxDB line protocol of closed windows: measurement ``aggregates``, one point per
machine, window and sensor, at the window's start (see ``contracts.influx_schema``)."""

from __future__ import annotations

from collections.abc import Iterable

from contracts.aggregates import WindowAggregate
from contracts.influx_schema import AGGREGATES
from pipeline.storage.line_protocol import escape_tag_value, float_field, tag_set


def aggregate_lines(aggregates: Iterable[WindowAggregate]) -> list[str]:
    lines = []
    for agg in aggregates:
        for sensor, s in agg.sensors.items():
            tags = tag_set(
                {
                    "plant": agg.plant,
                    "line": agg.line,
                    "machine_id": agg.machine_id,
                    "sensor": sensor,
                    "window": agg.window,
                }
            )
            fields = (
                f"count={s.count}i,min={float_field(s.min)},max={float_field(s.max)},"
                f"mean={float_field(s.mean)},last={float_field(s.last)},"
                f"stddev={float_field(s.stddev)}"
            )
            lines.append(f"{AGGREGATES}{tags} {fields} {agg.start_ms}")
    return lines


__all__ = ["aggregate_lines", "escape_tag_value"]
