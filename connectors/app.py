"""The connector: publish the machines, then poll every device until stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from kafka.errors import KafkaError

from connectors.devices import Device
from connectors.lifecycle import sleep_unless_stopped
from connectors.poller import DevicePoller
from connectors.producer import ReadingPublisher, open_publisher
from connectors.settings import ConnectorSettings

logger = logging.getLogger(__name__)


def build_pollers(
    devices: Sequence[Device], publisher: ReadingPublisher, settings: ConnectorSettings
) -> list[DevicePoller]:
    """One poller per device, each handing its readings to ``publisher``."""
    return [
        DevicePoller(
            device,
            sink=publisher.publish_reading,
            backoff_initial_s=settings.connector_backoff_initial_s,
            backoff_max_s=settings.connector_backoff_max_s,
        )
        for device in devices
    ]


async def _keep_producer_healthy(
    publisher: ReadingPublisher, stop: asyncio.Event, *, check_every_s: float = 1.0
) -> None:
    while not await sleep_unless_stopped(stop, check_every_s):
        try:
            await publisher.recover()
        except KafkaError as exc:
            logger.warning("kafka producer replacement failed error=%r", exc)


def log_statistics(
    pollers: Sequence[DevicePoller], publisher: ReadingPublisher, *, elapsed_s: float
) -> None:
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
    pub = publisher.stats
    logger.info(
        "connector statistics elapsed_s=%.0f scans=%d scans_per_s=%.1f sent=%d delivered=%d "
        "failed=%d",
        elapsed_s,
        scans,
        scans / elapsed_s if elapsed_s > 0 else 0.0,
        pub.sent,
        pub.delivered,
        pub.failed,
    )


async def _log_statistics_periodically(
    pollers: Sequence[DevicePoller],
    publisher: ReadingPublisher,
    stop: asyncio.Event,
    *,
    interval_s: float,
) -> None:
    loop = asyncio.get_running_loop()
    started_s = loop.time()
    while not await sleep_unless_stopped(stop, interval_s):
        log_statistics(pollers, publisher, elapsed_s=loop.time() - started_s)


async def run_connector(
    settings: ConnectorSettings,
    devices: Sequence[Device],
    *,
    stop: asyncio.Event,
) -> list[DevicePoller]:
    """Run until ``stop`` is set, then flush and close the producer.

    Connects to Kafka first (retrying until it answers), publishes one machine registry
    entry per device, then polls every device. Returns the pollers, whose ``stats`` tell
    what happened.
    """
    publisher = await open_publisher(settings, stop=stop)
    if publisher is None:
        return []
    for device in devices:
        publisher.publish_machine(device.machine_info())
    pollers = build_pollers(devices, publisher, settings)
    logger.info(
        "connector started connector_id=%s devices=%d topic=%s",
        settings.connector_id,
        len(pollers),
        settings.topics.readings,
    )
    t0_s = asyncio.get_running_loop().time()
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_keep_producer_healthy(publisher, stop), name="producer-health")
            if settings.connector_stats_interval_s > 0:
                group.create_task(
                    _log_statistics_periodically(
                        pollers, publisher, stop, interval_s=settings.connector_stats_interval_s
                    ),
                    name="statistics",
                )
            for poller in pollers:
                group.create_task(poller.run(stop), name=f"poll-{poller.device.machine_id}")
    finally:
        await publisher.flush(timeout_s=settings.connector_flush_timeout_s)
        await publisher.close(timeout_s=settings.connector_flush_timeout_s)
        log_statistics(pollers, publisher, elapsed_s=asyncio.get_running_loop().time() - t0_s)
    return pollers
