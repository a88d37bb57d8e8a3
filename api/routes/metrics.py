"""``GET /metrics``: Prometheus text format, without authentication (like ``/health``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.security.metrics import ApiMetrics

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """Requests by route template and status, latency, WebSocket clients and frames."""
    registry: ApiMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=ApiMetrics.content_type)
