"""Prometheus metrics of one app instance, in a registry of its own (no global state).

Other parts of the API record into the same object, reachable as ``app.state.metrics``
(or ``request.app.state.metrics``). The live feed's figures (open ``/live`` clients, frames
fanned out by kind, the feed's lag per topic) are read at scrape time from the hub and the
feed, which count them anyway: see :meth:`ApiMetrics.watch_live`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.live.stats import LiveStats

M = TypeVar("M", CounterMetricFamily, GaugeMetricFamily)

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
        self._live = _LiveCollector()
        r.register(self._live)

    def watch_live(self, source: Callable[[], LiveStats] | None) -> None:
        """Read the live feed's figures from ``source`` at each scrape (``None`` stops)."""
        self._live.source = source

    def observe_request(
        self, *, route: str, method: str, status: int, duration_s: float | None
    ) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        if duration_s is not None:
            self.latency.labels(route=route, method=method).observe(duration_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _by_label(family: M, values: Mapping[str, float]) -> M:
    """``family`` with one sample per label value, in label order."""
    for label, value in sorted(values.items()):
        family.add_metric([label], value)
    return family


class _LiveCollector(Collector):
    def __init__(self) -> None:
        self.source: Callable[[], LiveStats] | None = None

    def collect(self) -> Iterator[Metric]:
        stats = self.source() if self.source is not None else LiveStats(0, {}, 0, {})
        yield GaugeMetricFamily(
            "millstream_api_ws_clients", "Open WebSocket /live connections.", value=stats.clients
        )
        yield _by_label(
            CounterMetricFamily(
                "millstream_api_ws_frames",
                "Events fanned out to WebSocket clients, by kind.",
                labels=["kind"],
            ),
            stats.frames,
        )
        yield CounterMetricFamily(
            "millstream_api_ws_clients_overflowed",
            "WebSocket clients cut off because they could not keep up.",
            value=stats.clients_overflowed,
        )
        yield _by_label(
            GaugeMetricFamily(
                "millstream_api_live_lag_records",
                "Records of the live feed's topics not yet read, by topic.",
                labels=["topic"],
            ),
            stats.lag,
        )
