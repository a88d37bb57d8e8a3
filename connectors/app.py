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
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_keep_producer_healthy(publisher, stop), name="producer-health")
            for poller in pollers:
                group.create_task(poller.run(stop), name=f"poll-{poller.device.machine_id}")
    finally:
        await publisher.flush(timeout_s=settings.connector_flush_timeout_s)
        await publisher.close(timeout_s=settings.connector_flush_timeout_s)
        for poller in pollers:
            logger.info(
                "poller stopped machine_id=%s readings=%d skipped=%d refused=%d "
                "transport_errors=%d connects=%d overruns=%d",
                poller.device.machine_id,
                poller.stats.readings,
                poller.stats.skipped_scans,
                poller.stats.refused_requests,
                poller.stats.transport_errors,
                poller.stats.connects,
                poller.stats.overruns,
            )
        stats = publisher.stats
        logger.info(
            "connector stopped connector_id=%s sent=%d delivered=%d failed=%d",
            settings.connector_id,
            stats.sent,
            stats.delivered,
            stats.failed,
        )
    return pollers
