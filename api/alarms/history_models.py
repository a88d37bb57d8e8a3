"""Response bodies of the alarm journal and the alarm health KPIs (for the OpenAPI schema;
the routes build plain dicts)."""

from __future__ import annotations

from pydantic import BaseModel


class JournalEvent(BaseModel):
    ts: str
    alarm_id: str
    machine_id: int | str | None
    plant: str
    line: str
    sensor: str
    rule: str
    severity: str
    event: str
    state: str
    value: float
    threshold: float
    message: str
    by: str
    comment: str


class JournalOut(BaseModel):
    start: str
    stop: str
    limit: int
    truncated: bool
    events: list[JournalEvent]


class Guideline(BaseModel):
    per_10min_target: list[int]
    flood_per_10min: int
    chattering_per_min: int
    standing_after_s: int


class Rates(BaseModel):
    plant: str | None
    raised: int
    per_10min_avg: float
    per_10min_peak: int
    peak_at: str | None
    flood_pct: float


class AlarmRef(BaseModel):
    alarm_id: str
    machine_id: int | str
    sensor: str
    rule: str
    plant: str


class BadActor(AlarmRef):
    count: int
    pct: float


class Chattering(AlarmRef):
    max_per_min: int
    episodes: int


class Standing(AlarmRef):
    raised_at: str
    active_s: float
    active_now: bool


class Acknowledge(BaseModel):
    count: int
    unacknowledged: int
    mean_s: float | None
    median_s: float | None
    p90_s: float | None
    max_s: float | None


class AlarmHealthOut(BaseModel):
    start: str
    stop: str
    period_s: float
    guideline: Guideline
    plants: list[Rates]
    total: Rates
    top: list[BadActor]
    chattering: list[Chattering]
    standing: list[Standing]
    acknowledge: Acknowledge
