"""InfluxDB line protocol of closed windows: measurement ``aggregates``, one point per
machine, window and sensor, at the window's start, with the names of
:mod:`contracts.influx_schema`."""

from __future__ import annotations

from collections.abc import Iterable

from contracts.aggregates import WindowAggregate
from contracts.influx_schema import AGGREGATES, AGGREGATES_FIELDS, AGGREGATES_TAGS
from contracts.line_protocol import escape_measurement, field_set, tag_set

_AGGREGATES = escape_measurement(AGGREGATES)
# Every tag is an attribute of the aggregate but the sensor's, which keys its statistics.
_SENSOR = "sensor"
_WINDOW_TAGS = tuple(name for name in AGGREGATES_TAGS if name != _SENSOR)
# ``count`` is an integer field; the other statistics are floats, whole or not.
_COUNT = "count"
_SUM = "sum"
_FLOAT_STATS = tuple(name for name in AGGREGATES_FIELDS if name not in (_COUNT, _SUM))


def aggregate_lines(aggregates: Iterable[WindowAggregate]) -> list[str]:
    lines = []
    for agg in aggregates:
        window_tags = {name: getattr(agg, name) for name in _WINDOW_TAGS}
        for sensor, stats in agg.sensors.items():
            tags = tag_set({**window_tags, _SENSOR: sensor})
            fields = field_set(
                {
                    _COUNT: stats.count,
                    **{n: float(getattr(stats, n)) for n in _FLOAT_STATS},
                    _SUM: stats.total,
                }
            )
            lines.append(f"{_AGGREGATES}{tags} {fields} {agg.start_ms}")
    return lines
