"""The worker's operational metrics and its health pages.

One Prometheus registry per worker process (:class:`WorkerMetrics`), shared with the
alarm and window counters and served on every metrics page of the worker's web server
(``/metrics/``, ``/alarms/metrics/``, ``/windows/metrics/``):

- ``millstream_pipeline_readings_total``: readings decoded by the storage path, or
  evaluated by the alarm reader in an alarms-only worker (rate = readings per second);
- ``millstream_pipeline_consumer_lag{topic,partition}``: records between Kafka's high
  watermark and the committed offset of each partition assigned here;
- ``millstream_pipeline_influx_write_seconds{bucket}`` and
  ``millstream_pipeline_influx_batch_lines{bucket}``: each InfluxDB write request, its
  latency and its size; ``millstream_pipeline_influx_write_errors_total{bucket}``;
- ``millstream_pipeline_dead_letters_total{reason}``: dead letters published, by the
  stage that refused the record (``decode``, ``influx``, ``window``, ``audit``,
  ``alarms``); the full reason is in the dead-letter record;
- ``millstream_pipeline_window_machines`` and ``millstream_pipeline_window_panes``: the
  window state held here (machines with state, open panes).

Counts the loops already keep are read at scrape time, so the hot path pays nothing.

Health (:func:`serve_health`): ``/health/live/`` answers 200 while the worker's event loop
runs; ``/health/ready/`` answers 200 once Kafka assigned partitions to this worker and no
rebalance is under way, else 503 with the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import orjson
from influxdb_client import WritePrecision
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from contracts.influx_servers import InfluxServer
from kafka_edge.records import Record
from pipeline.publish import FaustPublisher
from pipeline.settings import PipelineSettings
from pipeline.sink.influx import InfluxSink
from pipeline.sink.plants import PlantSinks

logger = logging.getLogger(__name__)

_WRITE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LINES_BUCKETS = (1, 10, 50, 100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
STAGES = ("decode", "influx", "window", "audit", "alarms")


class WorkerMetrics:
    """The worker's registry, its write and dead-letter instruments, and scrape-time views."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.write_seconds = Histogram(
            "millstream_pipeline_influx_write_seconds",
            "Latency of one InfluxDB write request",
            ["bucket"],
            buckets=_WRITE_BUCKETS_S,
            registry=self.registry,
        )
        self.batch_lines = Histogram(
            "millstream_pipeline_influx_batch_lines",
            "Lines in one InfluxDB write request",
            ["bucket"],
            buckets=_LINES_BUCKETS,
            registry=self.registry,
        )
        self.write_errors = Counter(
            "millstream_pipeline_influx_write_errors",
            "InfluxDB write requests that failed (retried or dead-lettered)",
            ["bucket"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "millstream_pipeline_dead_letters",
            "Dead letters published, by the stage that refused the record",
            ["reason"],
            registry=self.registry,
        )
        for stage in STAGES:
            self.dead_letters.labels(stage)

    def observe_write(self, bucket: str, lines: int, seconds: float, ok: bool) -> None:
        self.write_seconds.labels(bucket).observe(seconds)
        self.batch_lines.labels(bucket).observe(lines)
        if not ok:
            self.write_errors.labels(bucket).inc()

    def count_dead_letters(self, records: Sequence[Record]) -> None:
        for record in records:
            self.dead_letters.labels(_stage_of(record.value)).inc()

    def watch(
        self,
        *,
        readings: Callable[[], int],
        consumer: Any,
        windows: Mapping[bytes, Any] | None,
    ) -> None:
        """Read ``readings()``, the consumer's lag and the window table at scrape time."""
        self.registry.register(_WorkerCollector(readings, consumer, windows))


def _stage_of(value: bytes | None) -> str:
    if value is None:
        return "unknown"
    try:
        stage = orjson.loads(value).get("stage")
    except (orjson.JSONDecodeError, AttributeError):
        return "unknown"
    return stage if stage in STAGES else "unknown"


class _WorkerCollector(Collector):
    def __init__(
        self, readings: Callable[[], int], consumer: Any, windows: Mapping[bytes, Any] | None
    ) -> None:
        self._readings = readings
        self._consumer = consumer
        self._windows = windows

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield CounterMetricFamily(
            "millstream_pipeline_readings",
            "Readings decoded (storage path) or evaluated (alarms-only worker); rate = per second",
            value=self._readings(),
        )
        lag = GaugeMetricFamily(
            "millstream_pipeline_consumer_lag",
            "Records between the high watermark and the committed offset, per partition",
            labels=["topic", "partition"],
        )
        for topic, partition, behind in consumer_lag(self._consumer):
            lag.add_metric([topic, str(partition)], behind)
        yield lag
        if self._windows is not None:
            machines = panes = 0
            for state in list(self._windows.values()):
                if state:
                    machines += 1
                    panes += len(state.get("panes", ()))
            yield GaugeMetricFamily(
                "millstream_pipeline_window_machines",
                "Machines with window state held by this worker",
                value=machines,
            )
            yield GaugeMetricFamily(
                "millstream_pipeline_window_panes",
                "Open panes of the windows held by this worker",
                value=panes,
            )


def consumer_lag(consumer: Any) -> list[tuple[str, int, int]]:
    """``(topic, partition, lag)`` of every partition assigned to a Faust consumer whose
    high watermark is known; lag counts from the committed offset (0 if none yet)."""
    out: list[tuple[str, int, int]] = []
    try:
        assigned = sorted(consumer.assignment())
    except Exception:  # not started, or mid-rebalance: nothing to report
        return out
    committed = getattr(consumer, "_committed_offset", {})
    for tp in assigned:
        try:
            high = consumer.highwater(tp)
        except Exception as exc:  # revoked since assignment() answered
            logger.debug("no high watermark for %s: %s", tp, exc)
            high = None
        if high is None:
            continue
        done = committed.get(tp) or 0
        out.append((tp.topic, tp.partition, max(0, high - done)))
    return out


WriteObserver = Callable[[str, int, float, bool], None]


class TimedInfluxSink(InfluxSink):
    """An :class:`InfluxSink` whose every write request is reported to ``observe``
    (bucket, lines, seconds, whether it succeeded)."""

    def __init__(self, *, observe: WriteObserver, **sink: Any) -> None:
        super().__init__(**sink)
        self._observe = observe

    async def write(
        self, bucket: str, lines: Sequence[str], *, precision: str = WritePrecision.MS
    ) -> None:
        if not lines:
            await super().write(bucket, lines, precision=precision)
            return
        started = time.perf_counter()
        ok = False
        try:
            await super().write(bucket, lines, precision=precision)
            ok = True
        finally:
            self._observe(bucket, len(lines), time.perf_counter() - started, ok)


def timed_sinks(settings: PipelineSettings, observe: WriteObserver) -> PlantSinks:
    """The worker's InfluxDB sinks, one per server of the plant map, each reporting its
    write requests to ``observe``."""

    def make(server: InfluxServer) -> InfluxSink:
        return TimedInfluxSink.from_settings(settings, server, observe=observe)

    return PlantSinks(settings.influx_servers(), make)


class CountingPublisher(FaustPublisher):
    """A :class:`FaustPublisher` that counts what it publishes to the dead-letter topic."""

    def __init__(
        self,
        app: Any,
        *,
        dead_letter_topic: str,
        count: Callable[[Sequence[Record]], None],
    ) -> None:
        super().__init__(app)
        self._dead_letter_topic = dead_letter_topic
        self._count = count

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        await super().publish(topic, records)
        if topic == self._dead_letter_topic:
            self._count(records)


def serve_health(app: Any, *, ready: Callable[[], str]) -> None:
    """``/health/live/`` and ``/health/ready/`` on the worker's web server; ``ready()``
    returns ``""`` when ready, else why not."""

    async def live(view: Any, request: Any) -> Any:
        return view.json({"status": "live"})

    async def readiness(view: Any, request: Any) -> Any:
        reason = ready()
        if reason:
            return view.json({"status": "not ready", "reason": reason}, status=503)
        return view.json({"status": "ready"})

    app.page("/health/live/")(live)
    app.page("/health/ready/")(readiness)


def worker_readiness(app: Any) -> Callable[[], str]:
    """Ready when Kafka assigned this worker partitions and no rebalance is under way."""

    def ready() -> str:
        if getattr(app, "rebalancing", False):
            return "a rebalance is under way"
        try:
            assigned = app.consumer.assignment()
        except Exception as exc:  # the consumer is not started yet
            return f"the Kafka consumer is not running ({type(exc).__name__})"
        if not assigned:
            return "no partitions assigned yet (Kafka unreachable, or more workers than partitions)"
        return ""

    return ready
