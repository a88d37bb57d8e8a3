"""Wiring the alarm engine into the Faust app: its table, thresholds, actions and timer.

- :func:`build_alarm_processor` creates the alarm-state table (key = machine id, raw bytes,
  exactly the readings key; ``use_partitioner=True`` so a write outside stream iteration
  lands in the machine's readings partition) and the processor.
- :func:`start_alarms` builds both, registers the agents, and starts the readings reader
  (:mod:`.readings_reader`), which evaluates the readings this worker owns.
- :func:`register_alarm_agents` adds:
  - the thresholds feed (:mod:`.thresholds_feed`), a task in every worker;
  - the actions agent on the alarm-actions topic (key = machine id, co-partitioned with the
    readings, so the worker that owns a machine's readings applies its actions);
  - the timer, which runs the processor's :meth:`~AlarmProcessor.tick` for the machines of
    the partitions this worker owns, and pauses while partitions are being rebalanced or
    the table recovered;
  - ``/alarms/metrics/`` on the worker's web server, when enabled (Prometheus text).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import faust
from prometheus_client import CollectorRegistry

from alarmrules.engine import EngineConfig
from contracts.timefmt import now_ms
from kafka_edge.partitioner import partition_for
from kafka_edge.records import Publisher
from pipeline.alarms.metrics import AlarmMetrics
from pipeline.alarms.processor import ALARM_STATE_TABLE, AlarmProcessor
from pipeline.alarms.readings_reader import ReadingsReader
from pipeline.alarms.ruleset import RuleSet
from pipeline.alarms.thresholds_feed import ThresholdsFeed
from pipeline.faust_ext.tables import PromptChangelogTable
from pipeline.metrics_page import serve_metrics
from pipeline.roles import Worker
from pipeline.storage.dead_letter import SourceRecord
from pipeline.storage.decoded_cache import DecodedReadings

if TYPE_CHECKING:
    from pipeline.settings import PipelineSettings

logger = logging.getLogger(__name__)

ACTIONS_AGENT = "pipeline.alarm-actions"
TIMER = "pipeline.alarm-timer"


def settled(app: faust.App) -> bool:
    """No rebalance and no table recovery under way."""
    return not (app.rebalancing or getattr(app, "in_recovery", False))


def partition_of(machine_id: str, partitions: int) -> int:
    """The partition of a machine's records (Kafka's default partitioner on the key)."""
    return partition_for(machine_id.encode(), partitions)


def build_alarm_processor(
    app: faust.App,
    *,
    settings: PipelineSettings,
    publisher: Publisher,
    partitions: int,
    registry: CollectorRegistry | None = None,
) -> AlarmProcessor:
    table = app.tables.add(
        PromptChangelogTable(
            app,
            name=ALARM_STATE_TABLE,
            beacon=app.tables.beacon,
            partitions=partitions,
            use_partitioner=True,
            key_type=bytes,
            help="Alarm state per machine id (alarmrules.state).",
        )
    )
    readings_topic = settings.topics.readings
    # The readings partitions this worker owns, as of the timer's last look (each tick
    # takes one look, then asks about each machine due).
    owned: list[frozenset[int]] = [frozenset()]

    def assignment() -> frozenset[int]:
        actives = app.assignor.assigned_actives()
        owned[0] = frozenset(tp.partition for tp in actives if tp.topic == readings_topic)
        return owned[0]

    def owns(machine_id: str) -> bool:
        return partition_of(machine_id, partitions) in owned[0]

    after_s = settings.pipeline_alarm_comm_loss_after_s
    return AlarmProcessor(
        table=table,
        publisher=publisher,
        topics=settings.topics,
        rules=RuleSet(),
        config=EngineConfig(
            comm_loss_after_ms=round(after_s * 1000) if after_s else None,
            comm_loss_severity=settings.pipeline_alarm_comm_loss_severity,
        ),
        retry=settings.retry_policy(),
        metrics=AlarmMetrics(registry),
        owns=owns,
        assignment=assignment,
        rules_wait_s=settings.pipeline_alarm_rules_wait_ms / 1000,
        partitions=partitions,
        # The broker has the table's changelog records, not merely the producer's queue.
        flush=table.changelog_durable,
    )


def _source(event: Any) -> SourceRecord:
    message = event.message  # Faust's message: its timestamp in seconds
    timestamp = message.timestamp
    return SourceRecord.of(
        message, timestamp_ms=int(timestamp * 1000) if timestamp is not None else None
    )


def register_alarm_agents(
    app: faust.App,
    *,
    processor: AlarmProcessor,
    settings: PipelineSettings,
    publisher: Publisher,
) -> None:
    del publisher  # the processor publishes; kept for a symmetric wiring call
    topics = settings.topics
    feed = ThresholdsFeed(
        processor.rules,
        kafka=settings.kafka(),
        topic=topics.thresholds,
        ready=processor.rules_ready,
    )

    async def follow_thresholds() -> None:
        await feed.run()

    app.task(follow_thresholds)

    actions_topic = app.topic(
        topics.alarm_actions,
        key_serializer="raw",
        value_serializer="raw",
        partitions=processor.partitions,
    )

    async def apply_actions(stream: Any) -> None:
        async for event in stream.events():
            await processor.handle_action(_source(event), now_ms())

    app.agent(actions_topic, name=ACTIONS_AGENT)(apply_actions)

    async def alarm_timer() -> None:
        if not settled(app):
            return
        await processor.tick(now_ms())

    app.timer(settings.pipeline_alarm_timer_interval_ms / 1000, name=TIMER)(alarm_timer)

    if settings.pipeline_web_port is not None:
        serve_metrics(app, "/alarms/metrics/", processor.metrics.registry)


def start_alarms(worker: Worker, *, share: DecodedReadings | None) -> ReadingsReader:
    """The alarm role: processor, agents, and the readings reader, running as a task and
    letting go of revoked partitions first. ``share``: where the reader leaves the readings
    it decoded for the storage path (None without one)."""
    app, settings = worker.app, worker.settings
    processor = build_alarm_processor(
        app,
        settings=settings,
        publisher=worker.publisher,
        partitions=worker.partitions,
        registry=worker.registry,
    )
    register_alarm_agents(app, processor=processor, settings=settings, publisher=worker.publisher)
    reader = ReadingsReader(
        kafka=settings.kafka(),
        topic=settings.topics.readings,
        app_id=settings.pipeline_app_id,
        evaluator=processor,
        owned=app.assignor.assigned_actives,
        stable=lambda: settled(app),
        fetch_max_bytes=settings.pipeline_fetch_max_bytes,
        max_records=settings.pipeline_batch_size,
        share=share,
        storage_group=settings.pipeline_app_id if settings.pipeline_storage_enabled else None,
    )
    app.chunk_consumer.on_revoke(reader.revoke)
    app.crashing_task("pipeline.readings_reader", reader.run)
    return reader
