"""Request bodies of the maintenance routes, and a schedule as the API shows it.

``PUT`` takes what ``GET`` returns: the read-only fields are accepted and ignored, but a
``schedule_id`` or ``machine_id`` other than the path's is ``422``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.body_ids import BodyMachineId
from api.flat import machine_id_json
from contracts.maintenance import IntervalDays, IsoDate, MaintenanceSchedule, Person, Task
from contracts.timefmt import format_ts


class ScheduleFields(BaseModel):
    """Every writable field of a schedule (``POST``, ``PUT``)."""

    model_config = ConfigDict(extra="forbid")

    task: Task = Field(description="What to do, e.g. 'Change spindle oil'")
    due_date: IsoDate = Field(description="YYYY-MM-DD")
    interval_days: IntervalDays | None = Field(
        default=None, description="Days between two services; null for a one-off task"
    )
    done_at: IsoDate | None = Field(default=None, description="YYYY-MM-DD it was last done")
    done_by: Person = Field(
        default="", description="Who did it; the caller's name when done_at is given alone"
    )
    # Read-only, as GET shows them: accepted and ignored (ids must match the path's).
    schedule_id: Annotated[str | None, Field(max_length=64)] = None
    machine_id: BodyMachineId | None = None
    next_due: Any = None
    updated_by: Any = None
    updated: Any = None


class SchedulePatch(BaseModel):
    """Fields to set; ``null`` clears ``interval_days``, ``done_at`` or ``done_by``."""

    model_config = ConfigDict(extra="forbid")

    task: Task | None = None
    due_date: IsoDate | None = None
    interval_days: IntervalDays | None = None
    done_at: IsoDate | None = None
    done_by: Person | None = None


class ScheduleOut(BaseModel):
    schedule_id: str
    machine_id: int | str
    task: str
    due_date: str
    interval_days: int | None
    done_at: str | None
    done_by: str
    next_due: str = Field(description="done_at + interval_days once done, else due_date")
    updated_by: str
    updated: str


def schedule_view(schedule: MaintenanceSchedule) -> dict[str, Any]:
    out = schedule.model_dump(mode="json", exclude={"updated_ts_ms"})
    out["machine_id"] = machine_id_json(schedule.machine_id)
    out["next_due"] = schedule.next_due().isoformat()
    out["updated"] = format_ts(schedule.updated_ts_ms)
    return out
