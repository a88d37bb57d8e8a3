"""The windows role of the worker: the changelogged table, the stage, its metrics page and
the idle closer, whose closed windows are written to InfluxDB under the retry policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pipeline.metrics_page import serve_metrics
from pipeline.roles import Worker
from pipeline.settings import PipelineSettings
from pipeline.sink.influx import InfluxSink
from pipeline.storage.delivery import until_done
from pipeline.windows.stage import WINDOWS_TABLE, LinesWriter, WindowsStage, specs_from_settings


def idle_aggregates_writer(sink: InfluxSink, settings: PipelineSettings) -> LinesWriter:
    """Write the lines of windows closed for idleness, retrying until InfluxDB takes them."""
    retry = settings.retry_policy()

    async def write_idle(lines: list[str]) -> None:
        async def write() -> None:
            await sink.write_aggregates(lines)

        await until_done(write, what="write_idle_aggregates", retry=retry)

    return write_idle


def start_windows(
    worker: Worker, *, sink: InfluxSink, pause: Callable[[], Awaitable[None]] | None
) -> WindowsStage:
    """``pause``: awaited between slices of a long chunk (the alarm reader's turn)."""
    app, settings = worker.app, worker.settings
    table = app.Table(
        WINDOWS_TABLE,
        partitions=worker.partitions,
        use_partitioner=True,
        key_type=bytes,
        help="Open aggregate windows per machine id (pipeline.windows).",
    )
    windows = WindowsStage(
        table=table,
        specs=specs_from_settings(settings),
        grace_ms=settings.pipeline_window_grace_ms,
        idle_close_ms=settings.pipeline_window_idle_close_ms,
        publisher=worker.publisher,
        aggregates_topic=settings.topics.aggregates,
        retry=settings.retry_policy(),
        registry=worker.registry,
        pause=pause,
        idle_writer=idle_aggregates_writer(sink, settings),
    )
    if settings.pipeline_web_port is not None:
        serve_metrics(app, "/windows/metrics/", windows.registry)
    app.crashing_task("pipeline.windows_idle", windows.run_idle_closer)
    return windows
