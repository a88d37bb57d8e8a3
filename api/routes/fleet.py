"""``GET /api/latest``: the newest values of every machine (of one plant) at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import HistoryDep, Principal
from api.errors import InvalidInputError
from api.history.fleet import fleet_latest, fleet_latest_flux
from api.history.params import parse_instant
from api.responses import conditional_json
from api.route_errors import QUERY_ERRORS

router = APIRouter(prefix="/api", tags=["history"])


class LatestValue(BaseModel):
    value: float
    ts: str


class FleetMachine(BaseModel):
    machine_id: int | str
    plant: str
    line: str
    ts: str
    values: dict[str, LatestValue]


class FleetOut(BaseModel):
    plant: str | None
    machines: list[FleetMachine]


@router.get("/latest", response_model=FleetOut, responses=QUERY_ERRORS)
async def get_fleet_latest(
    request: Request,
    identity: Principal,
    history: HistoryDep,
    plant: Annotated[str | None, Query(max_length=200)] = None,
    start: Annotated[str, Query(max_length=64, description="How far back to look: -1h")] = "-1h",
) -> Response:
    """Per machine that reported since ``start``: its plant, line, and the newest value of
    every sensor with its time (``/live``'s ``subscribe_overview`` then keeps them current)."""
    now = datetime.now(UTC)
    start_at = parse_instant(start, param="start", now=now)
    if start_at >= now:
        raise InvalidInputError("start: must be in the past")
    readers = history.of(plant=plant)
    machines = await history.query_each(
        readers,
        lambda reader: fleet_latest_flux(
            bucket=reader.bucket, plant=plant, start=start_at, stop=now
        ),
        fleet_latest,
        order=lambda m: (not str(m["machine_id"]).isdecimal(), str(m["machine_id"]).zfill(20)),
    )
    return conditional_json(request, {"plant": plant, "machines": machines})
