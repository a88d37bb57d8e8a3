"""``POST /api/machines/{id}/thresholds/{sensor}/backtest``: how many alarms a proposed
rule would have raised over a stretch of history, against the rule in force."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.deps import Engineer, HistoryDep, ServicesDep
from api.errors import InvalidInputError, validation_detail
from api.history.params import parse_instant
from api.pathparams import MachineIdPath, SensorPath
from api.responses import OrjsonResponse
from api.route_errors import INFLUX_DOWN
from api.thresholds.backtest import BacktestLimits, BacktestRange, run_backtest
from api.thresholds.models import ThresholdsBody
from contracts.thresholds import SensorThresholds

router = APIRouter(prefix="/api/machines/{machine_id}/thresholds", tags=["thresholds"])


class BacktestBody(BaseModel):
    """The proposed rules of the sensor (the shape ``PUT`` takes) and the stretch of
    history to replay (``-7d``, ``now`` or RFC 3339 times; at most 31 days)."""

    model_config = ConfigDict(extra="forbid")

    rule: ThresholdsBody
    start: Annotated[str, Field(max_length=64)] = "-7d"
    stop: Annotated[str, Field(max_length=64)] = "now"


class BacktestSide(BaseModel):
    raised: int
    by_rule: dict[str, int]
    time_in_alarm_s: float
    raised_at: list[dict[str, Any]]


class BacktestOut(BaseModel):
    machine_id: int | str
    sensor: str
    start: str
    stop: str
    readings: int
    proposed: BacktestSide
    in_force: BacktestSide
    in_force_rule: dict[str, Any] | None
    in_force_source: str | None


@router.post(
    "/{sensor}/backtest",
    response_class=OrjsonResponse,
    response_model=BacktestOut,
    responses={
        422: {"description": "The rule or the range is invalid; the detail names it"},
        **INFLUX_DOWN,
    },
)
async def backtest_thresholds(
    machine_id: MachineIdPath,
    sensor: SensorPath,
    body: BacktestBody,
    identity: Engineer,
    services: ServicesDep,
    history: HistoryDep,
) -> OrjsonResponse:
    """Replay the sensor's raw history through the alarm engine's own rule code, once with
    ``rule`` and once with the rule in force; count the alarms each raised."""
    try:
        proposed = SensorThresholds.model_validate(
            {**body.rule.model_dump(), "machine_id": machine_id, "sensor": sensor}
        )
    except ValidationError as exc:
        errors = [{**e, "loc": ("rule", *e.get("loc", ()))} for e in exc.errors()]
        raise InvalidInputError(validation_detail(errors)) from exc
    now = datetime.now(UTC)
    query = BacktestRange(
        machine_id=machine_id,
        sensor=sensor,
        start=parse_instant(body.start, param="start", now=now),
        stop=parse_instant(body.stop, param="stop", now=now),
    )
    found = services.thresholds.table.effective(machine_id, sensor)
    in_force = found[0] if found is not None else None
    answer = await run_backtest(
        history.for_machine(machine_id),
        query,
        proposed=proposed,
        in_force=in_force,
        limits=BacktestLimits(max_readings=services.settings.api_backtest_max_readings),
        pool=services.backtests,
    )
    answer["in_force_rule"] = (
        in_force.model_dump(mode="json", exclude={"machine_id", "sensor"}) if in_force else None
    )
    answer["in_force_source"] = found[1] if found is not None else None
    return OrjsonResponse(answer)
