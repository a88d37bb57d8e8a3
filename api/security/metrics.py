"""Prometheus metrics of one app instance, in a registry of its own (no global state).

Other parts of the API record into the same object, reachable as ``app.state.metrics``
(or ``request.app.state.metrics``)::

    metrics.ws_clients.inc() / .dec()          # open /live connections
    metrics.ws_frames.labels(kind="reading").inc()   # frames sent, by frame type
    metrics.live_lag.labels(topic="millstream.readings").set(records)  # consumer lag
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "millstream_api_requests",
            "HTTP requests and WebSocket connections, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "millstream_api_request_duration_seconds",
            "HTTP request latency, by route template and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.rate_limited = Counter(
            "millstream_api_rate_limited",
            "Requests refused with 429, by route class.",
            ["route_class"],
            registry=r,
        )
        self.audit_dropped = Counter(
            "millstream_api_audit_dropped",
            "Audit records dropped because the audit queue was full.",
            registry=r,
        )
        self.audit_written = Counter(
            "millstream_api_audit_written", "Audit records written.", ["sink"], registry=r
        )
        self.audit_failed = Counter(
            "millstream_api_audit_failed",
            "Audit records a sink failed to take.",
            ["sink"],
            registry=r,
        )
        self.ws_clients = Gauge(
            "millstream_api_ws_clients", "Open WebSocket /live connections.", registry=r
        )
        self.ws_frames = Counter(
            "millstream_api_ws_frames",
            "WebSocket frames sent, by frame type.",
            ["kind"],
            registry=r,
        )
        self.live_lag = Gauge(
            "millstream_api_live_lag_records",
            "Records of the live feed's topics not yet read, by topic.",
            ["topic"],
            registry=r,
        )

    def observe_request(
        self, *, route: str, method: str, status: int, duration_s: float | None
    ) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        if duration_s is not None:
            self.latency.labels(route=route, method=method).observe(duration_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
