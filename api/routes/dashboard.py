"""The live dashboard: one static page that follows a machine over the WebSocket."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["dashboard"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    page = resources.files("api").joinpath("static/dashboard.html").read_text(encoding="utf-8")
    return HTMLResponse(page)
