"""The Faust app: wiring only.

Faust owns the consumer group, the assignment (tables co-partitioned with the readings
topic), rebalances, table changelogs and offset commits. The readings topic (and the audit
topic) are consumed chunk by chunk through :class:`pipeline.faust_ext.chunks.ChunkConsumer`,
past Faust's per-event stream machinery; see that module for why and how offsets stay safe.
That and the other extensions of Faust's internals live in :mod:`pipeline.faust_ext`, and
:func:`create_app` refuses a faust-streaming version they were not tested with.
:func:`create_app` only wires the roles, each built by its own module:
:func:`pipeline.alarms.agents.start_alarms`, :func:`pipeline.windows.wiring.start_windows`
and :func:`pipeline.storage.wiring.start_storage`.

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
from collections.abc import Callable

import faust
import mode

from kafka_edge.connection import ProducerSettings
from kafka_edge.faust_broker import faust_broker_settings
from pipeline.alarms.agents import start_alarms
from pipeline.alarms.readings_reader import ReadingsReader
from pipeline.faust_ext.app import PipelineApp
from pipeline.faust_ext.tables import KeyPartitionedTable
from pipeline.faust_ext.version import check_faust_version
from pipeline.metrics_page import serve_metrics
from pipeline.observability import (
    CountingPublisher,
    WorkerMetrics,
    serve_health,
    timed_sinks,
    worker_readiness,
)
from pipeline.roles import Worker
from pipeline.settings import PipelineSettings
from pipeline.storage.decoded_cache import DecodedReadings
from pipeline.storage.readings_loop import ReadingsLoop
from pipeline.storage.wiring import skip_readings, start_storage
from pipeline.topology import readings_partitions
from pipeline.windows.stage import WindowsStage
from pipeline.windows.wiring import start_windows

logger = logging.getLogger(__name__)

# Faust's producer as it always was here: acks from all in-sync replicas, no compression.
FAUST_PRODUCER = ProducerSettings(acks="all", compression="none")


def faust_app(settings: PipelineSettings, partitions: int) -> PipelineApp:
    """The Faust app with the pipeline's settings, and the readings topic it consumes."""
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
        web_enabled=settings.pipeline_web_port is not None,
        web_port=settings.pipeline_web_port or 6066,
        web_bind=settings.pipeline_web_bind,
        web_tables_enabled=False,
        Table=KeyPartitionedTable,
    )
    readings_topic = app.topic(
        settings.topics.readings,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )
    app.topics.add(readings_topic)
    return app


def create_app(settings: PipelineSettings, *, partitions: int | None = None) -> faust.App:
    """Build the pipeline's Faust app; ``partitions`` defaults to the readings topic's."""
    check_faust_version()
    if partitions is None:
        partitions = settings.pipeline_partitions or readings_partitions(settings)
    app = faust_app(settings, partitions)
    metrics = WorkerMetrics()  # the process's one registry, on every metrics page
    publisher = CountingPublisher(
        app, dead_letter_topic=settings.topics.dead_letter, count=metrics.count_dead_letters
    )
    worker = Worker(app, settings, publisher, partitions, metrics.registry)
    storing = settings.pipeline_storage_enabled
    decoded = DecodedReadings()
    reader: ReadingsReader | None = None
    if settings.pipeline_alarms_enabled:
        reader = start_alarms(worker, share=decoded if storing else None)
    pause = reader.alarms_first if reader is not None else None
    sinks = timed_sinks(settings, metrics.observe_write)
    windows: WindowsStage | None = None
    if settings.pipeline_windows_enabled:
        windows = start_windows(worker, sinks=sinks, pause=pause)
    loop: ReadingsLoop | None = None
    if storing:
        loop = start_storage(
            worker,
            sinks=sinks,
            windows=windows,
            decoded=decoded if reader is not None else None,
            pause=pause,
        )
    else:
        skip_readings(app, settings.topics.readings)
    metrics.watch(
        readings=_readings_count(loop, reader),
        consumer=app.chunk_consumer,
        windows=windows.table if windows is not None else None,
    )
    if settings.pipeline_web_port is not None:
        serve_metrics(app, "/metrics/", metrics.registry)
        serve_health(app, ready=worker_readiness(app))
    return app


def _readings_count(loop: ReadingsLoop | None, reader: ReadingsReader | None) -> Callable[[], int]:
    """Readings decoded by the storage path, else evaluated by the alarm reader."""
    if loop is not None:
        return lambda: loop.readings_seen
    if reader is not None:
        return lambda: reader.readings_evaluated
    return lambda: 0
