"""Thin HTTP and WebSocket handlers; the work happens in the packages they call."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import dashboard, health, history, ingest, live, machines


def all_routers() -> list[APIRouter]:
    return [
        health.router,
        ingest.router,
        machines.router,
        history.router,
        live.router,
        dashboard.router,
    ]
