"""Liveness and readiness, without authentication (for load balancers and orchestrators)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import ServicesDep
from api.errors import UnavailableError
from api.responses import OrjsonResponse, json_response

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    """``status`` is ``ready``; each dependency says ``ok`` or why it is not."""

    status: str
    kafka: str
    influxdb: str


@router.get("/health", response_class=OrjsonResponse, response_model=HealthOut)
async def health() -> OrjsonResponse:
    """The process is up and serving requests."""
    return json_response({"status": "ok"})


@router.get(
    "/ready",
    response_class=OrjsonResponse,
    response_model=ReadyOut,
    responses={503: {"description": "Kafka or InfluxDB does not answer"}},
)
async def ready(services: ServicesDep) -> OrjsonResponse:
    """Kafka and InfluxDB both answer; otherwise ``503`` saying which one does not."""
    timeout_s = services.settings.ready_check_timeout_s
    results = await asyncio.gather(
        services.publisher.check(timeout_s=timeout_s),
        services.history.check(timeout_s=timeout_s),
        return_exceptions=True,
    )
    status: dict[str, str] = {}
    down: list[str] = []
    for name, result in zip(("kafka", "influxdb"), results, strict=True):
        if isinstance(result, UnavailableError):
            status[name] = str(result)
            down.append(name)
        elif isinstance(result, BaseException):
            logger.warning("readiness check failed name=%s error=%r", name, result)
            status[name] = f"{name}: check failed ({type(result).__name__})"
            down.append(name)
        else:
            status[name] = "ok"
    if down:
        return json_response(
            {"detail": f"not ready: {', '.join(down)} down", **status},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return json_response({"status": "ready", **status})
