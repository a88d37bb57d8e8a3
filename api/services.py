"""The long-lived parts of one API process, started and stopped by the app's lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass

from api.alarms.store import AlarmStore
from api.auth.store import ApiKeyStore
from api.commands.tracker import CommandTracker
from api.history.plants import PlantHistory
from api.history.reader import HistoryReader
from api.kafka.producer import KafkaPublisher
from api.live.feed import LiveFeed
from api.live.hub import LiveHub
from api.live.stats import LiveStats
from api.machines.registry import MachineRegistry
from api.maintenance.store import MaintenanceStore
from api.settings import ApiSettings
from api.thresholds.pool import BacktestPool
from api.thresholds.store import ThresholdsStore
from contracts.influx_servers import InfluxServer
from contracts.topics import TopicNames
from kafka_edge.connection import KafkaConnection

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    settings: ApiSettings
    publisher: KafkaPublisher
    keys: ApiKeyStore
    machines: MachineRegistry
    history: PlantHistory
    hub: LiveHub
    feed: LiveFeed
    thresholds: ThresholdsStore
    alarms: AlarmStore
    commands: CommandTracker
    maintenance: MaintenanceStore
    # Threshold backtests parse and replay history here, away from the event loop.
    backtests: BacktestPool

    def live_stats(self) -> LiveStats:
        """The live feed's figures, for ``/metrics``."""
        return LiveStats(
            clients=self.hub.client_count,
            frames={
                "reading": self.hub.readings_published,
                "alarm": self.hub.alarms_published,
            },
            clients_overflowed=self.hub.clients_overflowed,
            lag=self.feed.lag(),
        )


def history_readers(settings: ApiSettings, machines: MachineRegistry) -> PlantHistory:
    """The InfluxDB readers behind the history, fleet and alarm-journal routes: one per
    server of the plant map, a machine's picked by its plant in ``machines``."""

    def reader(server: InfluxServer) -> HistoryReader:
        return HistoryReader(
            **asdict(server),  # url, org, token
            bucket=settings.influx_bucket,
            aggregates_bucket=settings.influx_aggregates_bucket,
            alarms_bucket=settings.influx_alarms_bucket,
            timeout_s=settings.influx_query_timeout_s,
        )

    return PlantHistory(settings.influx_servers(), reader, machines.stored_plant)


def live_feed(kafka: KafkaConnection, topics: TopicNames, hub: LiveHub) -> LiveFeed:
    """The reader of the readings, alarms and aggregates topics that feeds ``/live``."""
    return LiveFeed(
        kafka=kafka,
        readings_topic=topics.readings,
        alarms_topic=topics.alarms,
        aggregates_topic=topics.aggregates,
        hub=hub,
    )


@contextlib.asynccontextmanager
async def running_services(settings: ApiSettings) -> AsyncIterator[Services]:
    """Start everything in dependency order; stop in reverse, also when a start fails."""
    topics = settings.topics
    kafka = KafkaConnection.from_settings(settings)
    timeout_s = settings.startup_timeout_s
    publisher = KafkaPublisher(
        kafka=kafka,
        produce_timeout_s=settings.kafka_produce_timeout_s,
        linger_ms=settings.kafka_linger_ms,
    )
    keys = ApiKeyStore(kafka=kafka, topic=topics.api_keys, publisher=publisher)
    machines = MachineRegistry(kafka=kafka, topic=topics.machines, publisher=publisher)
    history = history_readers(settings, machines)
    hub = LiveHub(queue_frames=settings.live_queue_frames)
    feed = live_feed(kafka, topics, hub)
    thresholds = ThresholdsStore(kafka=kafka, topic=topics.thresholds, publisher=publisher)
    alarms = AlarmStore(
        kafka=kafka,
        state_topic=topics.alarm_state,
        actions_topic=topics.alarm_actions,
        publisher=publisher,
    )
    commands = CommandTracker(
        kafka=kafka,
        commands_topic=topics.commands,
        results_topic=topics.command_results,
        publisher=publisher,
    )
    maintenance = MaintenanceStore(kafka=kafka, topic=topics.maintenance, publisher=publisher)
    admin = settings.admin_api_key
    async with contextlib.AsyncExitStack() as stack:
        await publisher.start()
        stack.push_async_callback(publisher.stop)
        await keys.start(
            timeout_s=timeout_s, admin_secret=admin.get_secret_value() if admin else None
        )
        stack.push_async_callback(keys.stop)
        await machines.start(timeout_s=timeout_s)
        stack.push_async_callback(machines.stop)
        for store in (thresholds, alarms, commands, maintenance):
            await store.start(timeout_s=timeout_s)
            stack.push_async_callback(store.stop)
        await history.start()
        stack.push_async_callback(history.stop)
        await feed.start(timeout_s=timeout_s)
        stack.push_async_callback(feed.stop)
        stack.push_async_callback(hub.overviews.close)
        backtests = BacktestPool()
        stack.callback(backtests.close)
        logger.info(
            "api services started kafka=%s influx=%s topic_prefix=%s",
            kafka.servers,
            settings.influx_url,
            settings.topic_prefix,
        )
        yield Services(
            settings=settings,
            publisher=publisher,
            keys=keys,
            machines=machines,
            history=history,
            hub=hub,
            feed=feed,
            thresholds=thresholds,
            alarms=alarms,
            commands=commands,
            maintenance=maintenance,
            backtests=backtests,
        )
        logger.info("api services stopping")
