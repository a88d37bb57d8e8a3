"""The WebSocket frames of readings and alarm events (the API's shapes, not the topics')."""

from __future__ import annotations

from typing import Any

from api.flat import machine_id_json
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


def alarm_frame(event: AlarmEvent) -> dict[str, Any]:
    """The WebSocket frame of an alarm event."""
    out = event.to_dict()
    out["type"] = "alarm"
    out["machine_id"] = machine_id_json(event.machine_id)
    return out
