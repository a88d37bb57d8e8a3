"""The WebSocket frames of readings and alarm events (the API's shapes, not the topics')."""

from __future__ import annotations

from typing import Any

from api.flat import machine_id_json
from contracts.aggregates import WindowAggregate
from contracts.alarms import AlarmEvent
from contracts.readings import Reading
from contracts.timefmt import format_ts


def reading_frame(reading: Reading) -> dict[str, Any]:
    """The flat shape dashboards consume: sensor values next to ``machine_id``."""
    frame: dict[str, Any] = {
        "type": "reading",
        "machine_id": machine_id_json(reading.machine_id),
        "ts": format_ts(reading.ts_ms),
        "seq": reading.seq,
    }
    frame.update(reading.values)
    if reading.quality:
        frame["quality"] = reading.quality
    return frame


def alarm_frame(event: AlarmEvent, cursor: str | None = None) -> dict[str, Any]:
    """The WebSocket frame of an alarm event; ``cursor`` (when known) is where a
    reconnecting client resumes (``subscribe_alarms`` with ``cursor``)."""
    out = event.to_dict()
    out["type"] = "alarm"
    out["machine_id"] = machine_id_json(event.machine_id)
    if cursor is not None:
        out["cursor"] = cursor
    return out


def aggregate_frame(aggregate: WindowAggregate) -> dict[str, Any]:
    out = aggregate.to_dict()
    out["type"] = "aggregate"
    out["machine_id"] = machine_id_json(aggregate.machine_id)
    return out
