"""The storage role of the worker: the readings loop and the rows loops (alarm events,
audit records) as chunk handlers of the worker's consumer, each with its storage batcher,
whose writer and timer run as tasks of the worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pipeline.faust_ext.app import PipelineApp
from pipeline.faust_ext.chunks import Chunk
from pipeline.roles import Worker
from pipeline.sink.plants import PlantSinks
from pipeline.storage.audit_rows import audit_record_line
from pipeline.storage.batcher import AckGate, StorageBatcher
from pipeline.storage.decoded_cache import DecodedReadings
from pipeline.storage.line_protocol import alarm_event_line
from pipeline.storage.readings_loop import ReadingsLoop, Windowing
from pipeline.storage.routing import Entry, entries
from pipeline.storage.rows_loop import RowsLoop


class _Batchers:
    """Builds the storage batchers of one worker and runs each one's writer and timer."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def start(
        self,
        name: str,
        batch_size: int,
        *,
        gate: AckGate | None = None,
    ) -> StorageBatcher:
        app, settings = self._worker.app, self._worker.settings
        batcher = StorageBatcher(
            name=name,
            publisher=self._worker.publisher,
            dead_letter_topic=settings.topics.dead_letter,
            retry=settings.retry_policy(),
            ack=app.chunk_consumer.ack_chunk,
            batch_size=batch_size,
            max_wait_ms=settings.pipeline_batch_max_wait_ms,
            max_pending=settings.pipeline_max_pending_batches,
            gate=gate,
        )
        app.crashing_task(f"pipeline.{name}_writer", batcher.run_writer)
        app.crashing_task(f"pipeline.{name}_timer", batcher.run_timer)
        if gate is not None:
            app.crashing_task(f"pipeline.{name}_acker", batcher.run_acker)
        return batcher


def start_storage(
    worker: Worker,
    *,
    sinks: PlantSinks,
    windows: Windowing | None,
    decoded: DecodedReadings | None,
    pause: Callable[[], Awaitable[None]] | None,
) -> ReadingsLoop:
    """Store the readings (with their windows' aggregates), the alarm events of every
    worker (an alarms-only one's too) and, when enabled, the audit records: each point on
    the InfluxDB of its plant, the audit records on the default one.

    ``decoded``: the readings the alarm reader decoded already; ``pause``: awaited between
    slices of a chunk, so the alarm reader runs first."""
    app, settings = worker.app, worker.settings
    topics = settings.topics
    consumer = app.chunk_consumer
    batchers = _Batchers(worker)
    loop = ReadingsLoop(
        sinks=sinks,
        batcher=batchers.start(
            "readings",
            settings.pipeline_batch_size,
            gate=windows,
        ),
        windows=windows,
        decoded=decoded,
        pause=pause,
    )
    consumer.handle_chunks(topics.readings, loop.on_chunk)
    rows_batch = settings.pipeline_audit_batch_size
    rows_loops = {
        topics.alarms: RowsLoop(
            what="alarms",
            to_line=alarm_event_line,
            route=lambda lines, sources: entries(
                sinks, "alarms", lambda sink: sink.write_alarms, lines, sources
            ),
            batcher=batchers.start("alarms", rows_batch),
        )
    }
    if settings.pipeline_audit_enabled:
        rows_loops[topics.audit] = RowsLoop(
            what="audit",
            to_line=audit_record_line,
            route=lambda lines, sources: _audit(sinks, lines, sources),
            batcher=batchers.start("audit", rows_batch),
        )
    for topic, rows in rows_loops.items():
        app.topics.add(app.topic(topic, key_serializer="raw", value_serializer="raw"))
        consumer.handle_chunks(topic, rows.on_chunk)
    return loop


def _audit(sinks: PlantSinks, lines: list[str], sources: list[Any]) -> list[Entry]:
    """The audit is not a plant's: it stays on the default server."""
    return [("audit", sinks.default.write_audit, lines, sources)]


def skip_readings(app: PipelineApp, topic: str) -> None:
    """An alarms-only worker: the group's assignment of the readings is what the alarm
    reader follows; Faust's own reading of them only has to move on."""
    consumer = app.chunk_consumer

    async def move_on(chunk: Chunk) -> None:
        consumer.ack_chunk(chunk)

    consumer.handle_chunks(topic, move_on)
