"""The Faust app: one agent batches readings into InfluxDB and raises alarms.

Per batch (``pipeline_batch_size`` records, or whatever arrived within
``pipeline_batch_max_wait_ms``): decode, evaluate the alarm rules against the alarm-state
table, write readings and alarm rows to InfluxDB, publish dead letters and alarm events,
keep the new alarm states, and only then ack the records so their offsets can be
committed. Faust's own acking is kept out of the way, because it would let offsets of
readings InfluxDB never accepted be committed:

- the batch comes from ``Stream.noack_take`` rather than ``Stream.take``, which acks its
  records in a ``finally`` even when the batch raised or was cancelled;
- the stream is ``stream.noack()``: ``noack_take`` restores the stream's own ack setting
  when it ends, after which Faust would ack records still queued without processing them;
- an unexpected exception stops the worker (``CrashingSupervisor``, exit code 1) instead of
  restarting the agent past the failed batch; the process manager restarts the worker,
  which resumes from the committed offsets. Expected failures never get that far: bad
  records become dead letters, and :func:`pipeline.delivery.deliver` retries I/O failures.

``stream_wait_empty`` is off: by default Faust waits, before a shutdown or a rebalance, until
every record being processed is acked, which never happens while InfluxDB is down. Instead
the batch in flight is abandoned unacked and consumed again later; that is safe because
processing is idempotent (points overwrite, alarm ids are deterministic, kept alarm state
suppresses repeats).

The alarm-state table is keyed by machine id like the readings topic and has as many
partitions. It is written after the batch (outside stream iteration), so it uses the
producer's partitioner (``use_partitioner=True``): the table key is the machine id's bytes,
serialized raw (``key_type=bytes``), exactly the readings key, so the changelog record
lands in the readings partition of that machine. Values are JSON.
The in-memory store is rebuilt from the compacted changelog at start-up; Faust's RocksDB
store cannot be used here because it needs the current stream event on every write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
import mode

from contracts.timefmt import now_ms
from pipeline.alarms.agents import build_alarm_processor, register_alarm_agents
from pipeline.batch import plan_batch
from pipeline.dead_letter import SourceRecord
from pipeline.delivery import PublishError, RetryPolicy, deliver
from pipeline.influx_sink import InfluxSink
from pipeline.settings import PipelineSettings
from pipeline.topology import readings_partitions

logger = logging.getLogger(__name__)

READINGS_AGENT = "pipeline.readings"


class FaustPublisher:
    """Publishes raw ``(key, value)`` records through the app's producer."""

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._topics: dict[str, Any] = {}

    def _topic(self, name: str) -> Any:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = self._app.topic(
                name, key_serializer="raw", value_serializer="raw"
            )
        return topic

    async def publish(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        if not records:
            return
        channel = self._topic(topic)
        try:
            pending = [
                await channel.send(key=key, value=value, force=True) for key, value in records
            ]
            await asyncio.gather(*pending)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise PublishError(
                f"topic {topic}: {len(records)} records not published: {exc}"
            ) from exc


def source_record(event: Any) -> SourceRecord:
    message = event.message
    timestamp = message.timestamp
    return SourceRecord(
        key=message.key,
        value=message.value,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(timestamp * 1000) if timestamp is not None else None,
    )


def create_app(settings: PipelineSettings, *, partitions: int | None = None) -> faust.App:
    """Build the pipeline's Faust app; ``partitions`` defaults to the readings topic's."""
    if partitions is None:
        partitions = settings.pipeline_partitions or readings_partitions(settings)
    topics = settings.topics
    web_enabled = settings.pipeline_web_port is not None
    app = faust.App(
        settings.pipeline_app_id,
        broker=settings.broker_urls(),
        datadir=str(settings.pipeline_data_dir),
        store="memory://",
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        agent_supervisor=mode.CrashingSupervisor,
        topic_partitions=partitions,
        topic_replication_factor=settings.pipeline_replication_factor,
        web_enabled=web_enabled,
        web_port=settings.pipeline_web_port or 6066,
        web_bind=settings.pipeline_web_bind,
        web_tables_enabled=False,
    )
    readings_topic = app.topic(
        topics.readings, key_serializer="raw", value_serializer="raw", partitions=partitions
    )
    publisher = FaustPublisher(app)
    alarms = build_alarm_processor(
        app, settings=settings, publisher=publisher, partitions=partitions
    )
    retry = RetryPolicy(
        backoff_ms=settings.pipeline_retry_backoff_ms,
        backoff_max_ms=settings.pipeline_retry_backoff_max_ms,
    )
    within_s = settings.pipeline_batch_max_wait_ms / 1000

    async def process_readings(stream: Any) -> None:
        records = stream.noack()
        async with InfluxSink.from_settings(settings) as sink:
            async for events in records.noack_take(settings.pipeline_batch_size, within=within_s):
                started = time.perf_counter()
                batch_ms = now_ms()
                plan = plan_batch(
                    [source_record(event) for event in events],
                    rules=(),
                    load_state=lambda _machine_id: None,
                    now_ms=batch_ms,
                )
                # Alarms are published (and their state kept) by the processor, before
                # the batch waits for InfluxDB; deliver writes their rows.
                plan.alarm_events = await alarms.process(plan.readings, batch_ms)
                dead_letters = await deliver(
                    plan,
                    writer=sink,
                    publisher=publisher,
                    alarms_topic=None,
                    dead_letter_topic=topics.dead_letter,
                    retry=retry,
                )
                for event in events:
                    await records.ack(event)
                logger.debug(
                    "batch done records=%d readings=%d alarms=%d dead_letters=%d took_ms=%.1f",
                    len(events),
                    len(plan.reading_lines),
                    len(plan.alarm_events),
                    len(dead_letters),
                    (time.perf_counter() - started) * 1000,
                )

    app.agent(readings_topic, name=READINGS_AGENT)(process_readings)
    register_alarm_agents(app, processor=alarms, settings=settings, publisher=publisher)
    return app
