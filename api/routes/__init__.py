"""Thin HTTP and WebSocket handlers; the work happens in the packages they call."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    alarm_history,
    alarms,
    backtest,
    commands,
    dashboard,
    fleet,
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
        fleet.router,
        thresholds.router,
        backtest.router,
        alarm_history.router,  # before alarms: /alarms/journal is not an alarm id
        alarms.router,
        commands.router,
        live.router,
        dashboard.router,
    ]
