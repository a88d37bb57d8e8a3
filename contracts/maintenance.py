"""Maintenance schedules of machines, as they travel on the compacted maintenance topic.

Wire format (JSON, UTF-8, key = ``<machine_id>/<schedule_id>``; a tombstone deletes)::

    {"machine_id": "42", "schedule_id": "5f0c3a9e1b2d", "task": "Change spindle oil",
     "due_date": "2026-01-15", "interval_days": 90, "done_at": "2025-12-15",
     "done_by": "j.smith", "updated_by": "engineer-key", "updated_ts_ms": 1765790000000}

``interval_days`` is ``null`` for a one-off task; ``done_at`` is ``null`` until it is done.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from contracts.codec import decode_model
from contracts.errors import ContractError
from contracts.patterns import MachineId

SCHEDULE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_INTERVAL_DAYS = 3650


def check_schedule_id(text: str) -> str:
    if SCHEDULE_ID_RE.fullmatch(text) is None:
        raise ContractError(
            f"schedule_id: {text!r} is not valid (letters, digits, '_', '-'; 1-64 chars)"
        )
    return text


_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """``"2025-12-15"`` (or a date); never a number read as a timestamp."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or _ISO_DATE_RE.fullmatch(value) is None:
        raise ValueError("must be a date as YYYY-MM-DD")
    return date.fromisoformat(value)


ScheduleId = Annotated[str, AfterValidator(check_schedule_id)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Task = Annotated[str, Field(min_length=1, max_length=200)]
IntervalDays = Annotated[int, Field(ge=1, le=MAX_INTERVAL_DAYS)]
Person = Annotated[str, Field(max_length=128)]


class MaintenanceSchedule(BaseModel):
    """One recurring (or one-off) maintenance task of one machine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    machine_id: MachineId
    schedule_id: ScheduleId
    task: Task
    due_date: IsoDate
    interval_days: IntervalDays | None = None
    done_at: IsoDate | None = None
    done_by: Person = ""
    updated_by: Person = ""
    updated_ts_ms: int = 0

    def key(self) -> bytes:
        return maintenance_key(self.machine_id, self.schedule_id)

    def encode(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def next_due(self) -> date:
        """``done_at + interval_days`` once done on a recurring task, else ``due_date``."""
        if self.done_at is not None and self.interval_days is not None:
            return self.done_at + timedelta(days=self.interval_days)
        return self.due_date


def maintenance_key(machine_id: str, schedule_id: str) -> bytes:
    return f"{machine_id}/{schedule_id}".encode()


def decode_maintenance(data: bytes) -> MaintenanceSchedule:
    return decode_model(MaintenanceSchedule, data, "maintenance schedule")
