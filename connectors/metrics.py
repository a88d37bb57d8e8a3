"""Prometheus metrics of the connector (prometheus-client, one registry per process).

Counters the pollers, the spool and the forwarder already keep are read when Prometheus
scrapes (a custom collector), so the poll loop pays nothing for them; only the two
latency histograms are observed as they happen.

- ``millstream_connector_polls_total{machine_id}``: scans (rate = polls/s)
- ``millstream_connector_request_seconds``: Modbus request latency
- ``millstream_connector_errors_total{machine_id,kind}``: transport, refused, unexpected,
  overrun (late scans), not_finite (values NaN or infinite after scale and offset)
- ``millstream_connector_values_total{quality}``: values published, by quality
- ``millstream_connector_spool_depth`` / ``..._spool_dropped_total``
- ``millstream_connector_produce_seconds``: from send to Kafka's acknowledgement
- ``millstream_connector_commands_total{status}``
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from connectors.modbus.poller import DevicePoller

_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ConnectorMetrics:
    """The registry and the two histograms; :meth:`watch` adds the scrape-time counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = LoopHistogram(
            "millstream_connector_request_seconds", "Modbus request latency", _LATENCY_BUCKETS_S
        )
        self.produce_seconds = LoopHistogram(
            "millstream_connector_produce_seconds",
            "From handing a reading to the producer to Kafka's acknowledgement",
            (*_LATENCY_BUCKETS_S, 5.0, 10.0, 30.0),
        )
        self.registry.register(self.request_seconds)
        self.registry.register(self.produce_seconds)

    def watch(
        self, pollers: Sequence[DevicePoller], counters: Callable[[], Mapping[str, int]]
    ) -> None:
        """Expose the pollers' stats and the Kafka side's ``counters()`` at scrape time."""
        self.registry.register(_StatsCollector(pollers, counters))

    def serve(self, *, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``host:port`` (a daemon thread)."""
        start_http_server(port, addr=host, registry=self.registry)


class LoopHistogram(Collector):
    """A histogram observed from the event loop's thread only, summed up at scrape time.

    ``prometheus_client.Histogram.observe`` takes a lock for each of its two counters
    (about 2 µs, three times per scan); here an observation is one bisection and two
    additions. A scrape (another thread) may see an observation in ``_count`` and not yet
    in ``_sum``; the next scrape sees both.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self._name = name
        self._doc = documentation
        self._bounds = tuple(buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def collect(self) -> Iterator[HistogramMetricFamily]:
        counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, self._bounds), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(self._name, self._doc, buckets=buckets, sum_value=total)


class _StatsCollector(Collector):
    def __init__(
        self, pollers: Sequence[DevicePoller], counters: Callable[[], Mapping[str, int]]
    ) -> None:
        self._pollers = pollers
        self._counters = counters

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        polls = CounterMetricFamily(
            "millstream_connector_polls", "Scans of a device", labels=["machine_id"]
        )
        errors = CounterMetricFamily(
            "millstream_connector_errors",
            "Poll errors by kind (transport, refused, unexpected, overrun, not_finite)",
            labels=["machine_id", "kind"],
        )
        values = CounterMetricFamily(
            "millstream_connector_values", "Values published, by quality", labels=["quality"]
        )
        by_quality: dict[str, int] = {}
        for poller in self._pollers:
            stats = poller.stats
            mid = poller.device.machine_id
            polls.add_metric([mid], stats.scans)
            errors.add_metric([mid, "transport"], stats.transport_errors)
            errors.add_metric([mid, "refused"], stats.refused_requests)
            errors.add_metric([mid, "unexpected"], stats.unexpected_errors)
            errors.add_metric([mid, "overrun"], stats.overruns)
            errors.add_metric([mid, "not_finite"], stats.not_finite_values)
            for quality, count in stats.values.items():
                by_quality[quality] = by_quality.get(quality, 0) + count
        for quality, count in sorted(by_quality.items()):
            values.add_metric([quality], count)
        yield polls
        yield errors
        yield values
        kafka = self._counters()
        yield GaugeMetricFamily(
            "millstream_connector_spool_depth",
            "Readings in the spool, not yet acknowledged by Kafka",
            value=kafka.get("spooled", 0),
        )
        yield CounterMetricFamily(
            "millstream_connector_spool_dropped",
            "Readings dropped by the full-spool policy",
            value=kafka.get("spool_dropped", 0),
        )
        commands = CounterMetricFamily(
            "millstream_connector_commands", "Commands handled, by outcome", labels=["status"]
        )
        for status in ("succeeded", "refused", "failed"):
            commands.add_metric([status], kafka.get(f"commands_{status}", 0))
        yield commands
