"""A Prometheus registry served as a page of the worker's Faust web server."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

_PROMETHEUS_TEXT = "text/plain; version=0.0.4"


def serve_metrics(app: Any, path: str, registry: CollectorRegistry) -> None:
    """Serve ``registry`` in Prometheus' text format at ``path`` (e.g. ``/alarms/metrics/``)."""

    async def metrics(view: Any, request: Any) -> Any:
        # aiohttp sets the charset itself.
        return view.bytes(generate_latest(registry), content_type=_PROMETHEUS_TEXT)

    app.page(path)(metrics)
