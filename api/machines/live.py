"""A machine's live part: its newest values from InfluxDB, its alarms, its status."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.alarms.store import AlarmStore
from api.errors import HistoryUnavailableError
from api.history.plants import PlantHistory
from api.history.reader import HistoryReader
from api.machines.views import LiveValues, machine_object, machine_status
from api.maintenance.store import MaintenanceTable
from contracts.machines import MachineInfo
from contracts.timefmt import format_ts, now_ms, parse_ts

logger = logging.getLogger(__name__)

# Readings stamped a little ahead of this clock still count as the newest.
_CLOCK_SKEW = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class LiveSources:
    """Where the live part of a machine object comes from, and its two settings."""

    history: PlantHistory
    alarms: AlarmStore
    maintenance: MaintenanceTable
    lookback_s: float
    offline_after_s: float


async def latest_values(
    history: HistoryReader, machine_id: str, *, lookback_s: float
) -> LiveValues | None:
    """The newest value of each numeric sensor within the lookback; ``None`` (logged) when
    InfluxDB does not answer."""
    now = datetime.now(UTC)
    try:
        latest = await history.latest(
            machine_id=machine_id, start=now - timedelta(seconds=lookback_s), stop=now + _CLOCK_SKEW
        )
    except HistoryUnavailableError as exc:
        logger.warning("machine live values unavailable machine_id=%s error=%s", machine_id, exc)
        return None
    values = {name: float(point["value"]) for name, point in latest.items()}
    newest = max((parse_ts(point["ts"]) for point in latest.values()), default=None)
    return LiveValues(values=values, newest_ts_ms=newest)


async def machine_with_live(info: MachineInfo, sources: LiveSources) -> dict[str, Any]:
    """The full machine object of ``GET /api/machines/{id}``."""
    machine_id = info.machine_id
    live = await latest_values(
        sources.history.for_machine(machine_id), machine_id, lookback_s=sources.lookback_s
    )
    alarms = sources.alarms.active_of(machine_id)
    status = machine_status(
        live, alarms, now_ms=now_ms(), offline_after_ms=int(sources.offline_after_s * 1000)
    )
    newest = live.newest_ts_ms if live is not None else None
    return machine_object(
        info,
        live=live,
        alarms=alarms,
        last_maintenance=sources.maintenance.last_done(machine_id),
        status=status,
        readings_ts=format_ts(newest) if newest is not None else None,
    )
