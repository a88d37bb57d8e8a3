"""The connector: poll every device into the spool, forward the spool to Kafka."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence

from kafka.errors import KafkaError

from connectors.commands import CommandRunner, build_command_consumer
from connectors.config.devices import Device
from connectors.config.settings import ConnectorSettings
from connectors.forwarding.forwarder import Forwarder, SpoolWriter, delivered_seqs
from connectors.forwarding.producer import ReadingPublisher, build_kafka_producer, open_publisher
from connectors.forwarding.spool import Spool
from connectors.health import ConnectorHealth, serve_health
from connectors.lifecycle import sleep_unless_stopped
from connectors.metrics import ConnectorMetrics
from connectors.modbus.poller import DevicePoller, ReadingSink
from connectors.modbus.watchdog import watch_staleness
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record

logger = logging.getLogger(__name__)


def build_pollers(
    devices: Sequence[Device],
    sink: ReadingSink,
    settings: ConnectorSettings,
    *,
    last_seqs: Mapping[str, int] | None = None,
    observe_request_s: Callable[[float], None] | None = None,
) -> list[DevicePoller]:
    """One poller per device, each handing its readings to ``sink`` and continuing the
    machine's sequence numbers from ``last_seqs``."""
    seqs = last_seqs or {}
    return [
        DevicePoller(
            device,
            sink=sink,
            backoff_initial_s=settings.connector_backoff_initial_s,
            backoff_max_s=settings.connector_backoff_max_s,
            initial_seq=seqs.get(device.machine_id, 0),
            observe_request_s=observe_request_s,
        )
        for device in devices
    ]


async def _keep_producer_healthy(
    publisher: ReadingPublisher, stop: asyncio.Event, *, check_every_s: float = 1.0
) -> None:
    # A periodic check, not a retry loop: a failed replacement is tried at the next check.
    while not await sleep_unless_stopped(stop, check_every_s):
        try:
            await publisher.recover()
        except KafkaError as exc:
            logger.warning("kafka producer replacement failed error=%r", exc)


def log_statistics(pollers: Sequence[DevicePoller], kafka: _KafkaSide, *, elapsed_s: float) -> None:
    """One line per device and one for the connector: what happened so far."""
    for poller in pollers:
        stats = poller.stats
        logger.info(
            "poller statistics machine_id=%s scans=%d readings=%d skipped=%d refused=%d "
            "transport_errors=%d unexpected_errors=%d connects=%d overruns=%d values=%s",
            poller.device.machine_id,
            stats.scans,
            stats.readings,
            stats.skipped_scans,
            stats.refused_requests,
            stats.transport_errors,
            stats.unexpected_errors,
            stats.connects,
            stats.overruns,
            ",".join(f"{q}:{n}" for q, n in sorted(stats.values.items())),
        )
    scans = sum(p.stats.scans for p in pollers)
    logger.info(
        "connector statistics elapsed_s=%.0f scans=%d scans_per_s=%.1f %s",
        elapsed_s,
        scans,
        scans / elapsed_s if elapsed_s > 0 else 0.0,
        " ".join(f"{k}={v}" for k, v in kafka.counters().items()),
    )


async def _log_statistics_periodically(
    pollers: Sequence[DevicePoller],
    kafka: _KafkaSide,
    stop: asyncio.Event,
    *,
    interval_s: float,
) -> None:
    loop = asyncio.get_running_loop()
    started_s = loop.time()
    while not await sleep_unless_stopped(stop, interval_s):
        log_statistics(pollers, kafka, elapsed_s=loop.time() - started_s)


async def run_connector(
    settings: ConnectorSettings,
    devices: Sequence[Device],
    *,
    stop: asyncio.Event,
) -> list[DevicePoller]:
    """Run until ``stop`` is set, then flush what it can and close.

    Polling starts at once, into the spool; in parallel the Kafka side connects
    (retrying until Kafka answers), publishes one machine registry entry per device,
    removes from the spool what an earlier run already delivered, and forwards the rest.
    Returns the pollers, whose ``stats`` tell what happened.
    """
    spool = Spool(
        settings.spool_path(),
        max_records=settings.connector_spool_max_records,
        full_policy=settings.connector_spool_full_policy,
    )
    writer = SpoolWriter(spool, topic=settings.topics.readings)
    metrics = ConnectorMetrics() if settings.connector_metrics_port else None
    pollers = build_pollers(
        devices,
        writer,
        settings,
        last_seqs=spool.last_seqs(),
        observe_request_s=metrics.request_seconds.observe if metrics else None,
    )
    kafka = _KafkaSide(
        settings,
        devices,
        spool,
        pollers,
        observe_produce_s=metrics.produce_seconds.observe if metrics else None,
    )
    if metrics is not None:
        _serve_metrics(metrics, pollers, kafka, settings)
    logger.info(
        "connector started connector_id=%s shard=%s devices=%d topic=%s spool=%s spooled=%d",
        settings.connector_id,
        settings.connector_shard or "all",
        len(pollers),
        settings.topics.readings,
        spool.path,
        spool.depth,
    )
    t0_s = asyncio.get_running_loop().time()
    try:
        await _run_until_stopped(settings, pollers, kafka, stop)
    finally:
        writer.flush()
        await kafka.close(timeout_s=settings.connector_flush_timeout_s)
        elapsed_s = asyncio.get_running_loop().time() - t0_s
        log_statistics(pollers, kafka, elapsed_s=elapsed_s)
        logger.info(
            "connector stopped connector_id=%s %s",
            settings.connector_id,
            " ".join(f"{k}={v}" for k, v in kafka.counters().items()),
        )
        spool.close()
    return pollers


def _serve_metrics(
    metrics: ConnectorMetrics,
    pollers: Sequence[DevicePoller],
    kafka: _KafkaSide,
    settings: ConnectorSettings,
) -> None:
    metrics.watch(pollers, kafka.counters)
    metrics.serve(port=settings.connector_metrics_port, host=settings.connector_metrics_host)
    logger.info(
        "metrics served address=http://%s:%d/metrics",
        settings.connector_metrics_host,
        settings.connector_metrics_port,
    )


async def _run_until_stopped(
    settings: ConnectorSettings,
    pollers: Sequence[DevicePoller],
    kafka: _KafkaSide,
    stop: asyncio.Event,
) -> None:
    """The connector's tasks: the Kafka side, statistics, the staleness watchdog, the
    health endpoint and one poller per device, until ``stop`` is set."""
    async with asyncio.TaskGroup() as group:
        group.create_task(kafka.run(stop), name="kafka")
        if settings.connector_stats_interval_s > 0:
            group.create_task(
                _log_statistics_periodically(
                    pollers, kafka, stop, interval_s=settings.connector_stats_interval_s
                ),
                name="statistics",
            )
        group.create_task(watch_staleness(pollers, stop), name="staleness")
        if settings.connector_health_port:
            health = ConnectorHealth(
                pollers,
                connected=lambda: kafka.forwarder is not None,
                counters=kafka.counters,
                stall_s=settings.connector_health_stall_s,
            )
            serving = serve_health(
                health,
                host=settings.connector_health_host,
                port=settings.connector_health_port,
                stop=stop,
            )
            group.create_task(serving, name="health")
        for poller in pollers:
            group.create_task(
                poller.run(stop, watchdog=False), name=f"poll-{poller.device.machine_id}"
            )


class _KafkaSide:
    """Connects, publishes the machines, de-duplicates the spool, forwards it."""

    def __init__(
        self,
        settings: ConnectorSettings,
        devices: Sequence[Device],
        spool: Spool,
        pollers: Sequence[DevicePoller],
        *,
        observe_produce_s: Callable[[float], None] | None = None,
    ) -> None:
        self.pollers = pollers
        self._observe_produce_s = observe_produce_s
        self.commands: CommandRunner | None = None
        self.settings = settings
        self.devices = devices
        self.spool = spool
        self.publisher: ReadingPublisher | None = None
        self.forwarder: Forwarder | None = None

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        self.publisher = await open_publisher(settings, stop=stop)
        if self.publisher is None:
            return
        machines = [device.machine_info() for device in self.devices]
        try:
            await self.publisher.publish(
                settings.topics.machines, [Record(m.key(), m.encode()) for m in machines]
            )
        except KafkaError as exc:
            # Counted and logged by the publisher; the next start publishes them again.
            logger.warning("machine registry entries not delivered error=%r", exc)
        spooled = self.spool.machines()
        if spooled and settings.connector_spool_tail_records:
            delivered = await asyncio.to_thread(
                delivered_seqs,
                KafkaConnection.from_settings(settings),
                settings.topics.readings,
                spooled,
                tail_records=settings.connector_spool_tail_records,
            )
            removed = self.spool.delete_delivered(delivered)
            logger.info(
                "spool resumed spooled_machines=%d already_delivered=%d still_spooled=%d",
                len(spooled),
                removed,
                self.spool.depth,
            )
        factory = functools.partial(build_kafka_producer, settings)
        forwarder = Forwarder(
            self.spool,
            producer_factory=factory,
            max_in_flight=settings.connector_max_in_flight,
            on_delivered=self._observe_produce_s,
        )
        await forwarder.start(await asyncio.to_thread(factory))
        self.forwarder = forwarder
        self.commands = CommandRunner(
            consumer_factory=functools.partial(
                build_command_consumer,
                KafkaConnection.from_settings(settings),
                settings.topics.commands,
                group_id=f"{settings.connector_id}-commands",
            ),
            pollers={p.device.machine_id: p for p in self.pollers},
            publisher=self.publisher,
            results_topic=settings.topics.command_results,
            executed_by=settings.connector_id,
            max_age_s=settings.connector_command_max_age_s,
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(_keep_producer_healthy(self.publisher, stop))
            group.create_task(forwarder.run(stop))
            group.create_task(self.commands.run(stop))

    async def close(self, *, timeout_s: float) -> None:
        if self.forwarder is not None:
            # Forward what the writer flushed last, within the flush timeout; what is not
            # delivered stays in the spool for the next run.
            self.forwarder.send_spooled()
            await self.forwarder.flush(timeout_s=timeout_s)
            await self.forwarder.close(timeout_s=timeout_s)
        if self.publisher is not None:
            await self.publisher.flush(timeout_s=timeout_s)
            await self.publisher.close(timeout_s=timeout_s)

    def counters(self) -> dict[str, int]:
        f = self.forwarder
        return {
            "spooled": self.spool.depth,
            "spool_dropped": self.spool.dropped,
            "delivered": f.delivered if f else 0,
            "failed": f.failed if f else 0,
            "refused": f.refused if f else 0,
            "in_flight": f.in_flight if f else 0,
            **{
                f"commands_{k}": v
                for k, v in (self.commands.counts if self.commands else {}).items()
            },
        }
