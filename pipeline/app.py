"""The Faust app: wiring only.

Faust owns the consumer group, the assignment (tables co-partitioned with the readings
topic), rebalances, table changelogs and offset commits. The readings topic (and the audit
topic) are consumed chunk by chunk through :class:`pipeline.faust_ext.chunks.ChunkConsumer`,
past Faust's per-event stream machinery; see that module for why and how offsets stay safe.
That and the other extensions of Faust's internals live in :mod:`pipeline.faust_ext`, and
:func:`create_app` refuses a faust-streaming version they were not tested with.

Two paths read the readings:

- storage (:class:`pipeline.storage.readings_loop.ReadingsLoop`), per chunk: decode, add the
  readings to their windows and emit the closed ones, then hand the lines to the storage
  batcher, which writes them to InfluxDB in the background and acks the chunk's offsets
  only after InfluxDB accepted them;
- alarms (:class:`pipeline.alarms.readings_reader.ReadingsReader`): the same partitions at
  a position of their own, so that a slow or stopped InfluxDB never delays an alarm.

The alarm events' rows reach InfluxDB from the alarms topic (:class:`pipeline.storage.rows_loop.
RowsLoop`, as the audit records do).

An unexpected exception in a loop stops the worker (exit code 1) instead of going on past
a batch it could not store; the process manager restarts it, and it resumes from the
committed offsets. Expected failures never get that far: bad records become dead letters,
and :mod:`pipeline.storage.delivery` retries I/O failures.

``stream_wait_empty`` is off: by default Faust waits, before a shutdown or a rebalance,
until every record being processed is acked, which never happens while InfluxDB is down.
Instead the batches in flight are abandoned unacked and consumed again later; that is safe
because processing is idempotent (points overwrite, alarm ids are deterministic, window
state remembers the last offset it applied).

Tables are written outside stream iteration: their key is the machine id's bytes,
serialized raw, exactly the readings key, and :class:`pipeline.faust_ext.tables.KeyPartitionedTable`
puts each changelog record in that key's readings partition (Kafka's default partitioner,
computed without the producer's metadata).
The in-memory store is rebuilt from the compacted changelog at start-up; Faust's RocksDB
store cannot be used here because its ``_set`` reads the partition from the *current
stream event* (``current_event().message.partition``), and chunked processing runs
outside any Faust event.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import mode

from kafka_edge.connection import ProducerSettings
from kafka_edge.faust_broker import faust_broker_settings
from pipeline.alarms.agents import build_alarm_processor, register_alarm_agents
from pipeline.alarms.readings_reader import ReadingsReader
from pipeline.faust_ext.app import PipelineApp
from pipeline.faust_ext.chunks import Chunk
from pipeline.faust_ext.tables import KeyPartitionedTable
from pipeline.faust_ext.version import check_faust_version
from pipeline.metrics_page import serve_metrics
from pipeline.observability import (
    CountingPublisher,
    WorkerMetrics,
    serve_health,
    timed_sink,
    worker_readiness,
)
from pipeline.settings import PipelineSettings
from pipeline.storage.audit_rows import audit_record_line
from pipeline.storage.batcher import StorageBatcher
from pipeline.storage.decoded_cache import DecodedReadings
from pipeline.storage.delivery import until_done
from pipeline.storage.line_protocol import alarm_event_line
from pipeline.storage.readings_loop import ReadingsLoop
from pipeline.storage.rows_loop import RowsLoop
from pipeline.topology import readings_partitions
from pipeline.windows.stage import WINDOWS_TABLE, WindowsStage

logger = logging.getLogger(__name__)

# Faust's producer as it always was here: acks from all in-sync replicas, no compression.
FAUST_PRODUCER = ProducerSettings(acks="all", compression="none")


def _crash_on_error(app: faust.App, name: str, coro: Any) -> Any:
    async def run() -> None:
        try:
            await coro()
        except Exception as exc:
            logger.exception("%s stopped by an unexpected error; stopping the worker", name)
            await app.crash(exc)
            raise

    run.__name__ = name
    return run


def create_app(settings: PipelineSettings, *, partitions: int | None = None) -> faust.App:
    """Build the pipeline's Faust app; ``partitions`` defaults to the readings topic's."""
    check_faust_version()
    if partitions is None:
        partitions = settings.pipeline_partitions or readings_partitions(settings)
    topics = settings.topics
    web_enabled = settings.pipeline_web_port is not None
    app = PipelineApp(
        settings.pipeline_app_id,
        **faust_broker_settings(settings.kafka(), FAUST_PRODUCER),
        datadir=str(settings.pipeline_data_dir),
        store="memory://",
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        broker_commit_interval=settings.pipeline_commit_interval_ms / 1000,
        consumer_max_fetch_size=settings.pipeline_fetch_max_bytes,
        broker_max_poll_records=settings.pipeline_batch_size,
        agent_supervisor=mode.CrashingSupervisor,
        topic_partitions=partitions,
        topic_replication_factor=settings.pipeline_replication_factor,
        web_enabled=web_enabled,
        web_port=settings.pipeline_web_port or 6066,
        web_bind=settings.pipeline_web_bind,
        web_tables_enabled=False,
        Table=KeyPartitionedTable,
    )
    readings_topic = app.topic(
        topics.readings, key_serializer="raw", value_serializer="raw", partitions=partitions
    )
    app.topics.add(readings_topic)
    metrics = WorkerMetrics()  # the process's one registry, on every metrics page
    publisher = CountingPublisher(
        app, dead_letter_topic=topics.dead_letter, count=metrics.count_dead_letters
    )
    retry = settings.retry_policy()
    consumer: Any = app.consumer
    decoded = DecodedReadings()
    reader: ReadingsReader | None = None
    if settings.pipeline_alarms_enabled:
        processor = build_alarm_processor(
            app,
            settings=settings,
            publisher=publisher,
            partitions=partitions,
            registry=metrics.registry,
        )
        register_alarm_agents(app, processor=processor, settings=settings, publisher=publisher)
        reader = ReadingsReader(
            kafka=settings.kafka(),
            topic=topics.readings,
            app_id=settings.pipeline_app_id,
            evaluator=processor,
            owned=app.assignor.assigned_actives,
            stable=lambda: not (app.rebalancing or getattr(app, "in_recovery", False)),
            fetch_max_bytes=settings.pipeline_fetch_max_bytes,
            max_records=settings.pipeline_batch_size,
            share=decoded if settings.pipeline_storage_enabled else None,
        )
        consumer.revoke_hooks.append(reader.revoke)
        app.task(_crash_on_error(app, "pipeline.readings_reader", reader.run))
    windows: WindowsStage | None = None
    if settings.pipeline_windows_enabled:
        windows_table = app.Table(
            WINDOWS_TABLE,
            partitions=partitions,
            use_partitioner=True,
            key_type=bytes,
            help="Open aggregate windows per machine id (pipeline.windows).",
        )
        windows = WindowsStage.from_settings(
            settings,
            table=windows_table,
            publisher=publisher,
            retry=retry,
            registry=metrics.registry,
        )
        if web_enabled:
            serve_metrics(app, "/windows/metrics/", windows.registry)
    sink = timed_sink(settings, metrics.observe_write)

    def batcher(name: str, batch_size: int) -> StorageBatcher:
        return StorageBatcher(
            name=name,
            publisher=publisher,
            dead_letter_topic=topics.dead_letter,
            retry=retry,
            ack=consumer.ack_chunk,
            batch_size=batch_size,
            max_wait_ms=settings.pipeline_batch_max_wait_ms,
            max_pending=settings.pipeline_max_pending_batches,
        )

    readings_batcher = batcher("readings", settings.pipeline_batch_size)
    loop = ReadingsLoop(
        sink=sink,
        batcher=readings_batcher,
        windows=windows,
        decoded=decoded if reader is not None else None,
        pause=reader.alarms_first if reader is not None else None,
    )
    if windows is not None and reader is not None:
        windows.pause = reader.alarms_first
    batchers = [readings_batcher]
    if settings.pipeline_storage_enabled:
        consumer.chunk_handlers[topics.readings] = loop.on_chunk
    else:
        # An alarms-only worker: the group's assignment of the readings is what the alarm
        # reader follows; Faust's own reading of them only has to move on.
        async def move_on(chunk: Chunk) -> None:
            consumer.ack_chunk(chunk)

        consumer.chunk_handlers[topics.readings] = move_on
        batchers = []

    def store_rows(topic: str, loop: RowsLoop) -> None:
        app.topics.add(app.topic(topic, key_serializer="raw", value_serializer="raw"))
        consumer.chunk_handlers[topic] = loop.on_chunk

    if settings.pipeline_storage_enabled:
        # Alarm events of every worker, an alarms-only one's too, become rows here.
        alarms_batcher = batcher("alarms", settings.pipeline_audit_batch_size)
        rows = RowsLoop(
            what="alarms", to_line=alarm_event_line, write=sink.write_alarms, batcher=alarms_batcher
        )
        store_rows(topics.alarms, rows)
        batchers.append(alarms_batcher)
    if settings.pipeline_audit_enabled and settings.pipeline_storage_enabled:
        audit_batcher = batcher("audit", settings.pipeline_audit_batch_size)
        rows = RowsLoop(
            what="audit", to_line=audit_record_line, write=sink.write_audit, batcher=audit_batcher
        )
        store_rows(topics.audit, rows)
        batchers.append(audit_batcher)

    for each in batchers:
        app.task(_crash_on_error(app, f"pipeline.{each.name}_writer", each.run_writer))
        app.task(_crash_on_error(app, f"pipeline.{each.name}_timer", each.run_timer))
    metrics.watch(
        readings=(
            (lambda: loop.readings_seen)
            if settings.pipeline_storage_enabled or reader is None
            else (lambda: reader.readings_evaluated)
        ),
        consumer=consumer,
        windows=windows_table if windows is not None else None,
    )
    if web_enabled:
        serve_metrics(app, "/metrics/", metrics.registry)
        serve_health(app, ready=worker_readiness(app))
    if windows is not None:
        stage = windows

        async def write_idle(lines: list[str]) -> None:
            async def write() -> None:
                await sink.write_aggregates(lines)

            await until_done(write, what="write_idle_aggregates", retry=retry)

        stage.idle_writer = write_idle
        app.task(_crash_on_error(app, "pipeline.windows_idle", windows.run_idle_closer))
    return app
