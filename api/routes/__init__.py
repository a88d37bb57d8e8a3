"""Thin HTTP and WebSocket handlers; the work happens in the packages they call."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    alarms,
    commands,
    dashboard,
    health,
    history,
    ingest,
    live,
    machines,
    maintenance,
    thresholds,
)


def all_routers() -> list[APIRouter]:
    return [
        health.router,
        ingest.router,
        machines.router,
        maintenance.router,
        history.router,
        thresholds.router,
        alarms.router,
        commands.router,
        live.router,
        dashboard.router,
    ]
