"""The windows role of the worker: the changelogged table, the stage, its metrics page and
the idle closer, whose closed windows are written to InfluxDB under the retry policy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from pipeline.metrics_page import serve_metrics
from pipeline.roles import Worker
from pipeline.settings import PipelineSettings
from pipeline.sink.plants import PlantSinks
from pipeline.storage.delivery import Write, until_done
from pipeline.storage.routing import entries
from pipeline.windows.stage import WINDOWS_TABLE, LinesWriter, WindowsStage, specs_from_settings


def idle_aggregates_writer(sinks: PlantSinks, settings: PipelineSettings) -> LinesWriter:
    """Write the lines of windows closed for idleness, each on its plant's InfluxDB,
    retrying until each server takes its own (one server away does not hold the others)."""
    retry = settings.retry_policy()

    async def write_one(what: str, write: Write, lines: Sequence[str]) -> None:
        async def attempt() -> None:
            await write(lines)

        await until_done(attempt, what=f"write_{what}", retry=retry)

    async def write_idle(lines: list[str]) -> None:
        routed = entries(sinks, "idle_aggregates", lambda sink: sink.write_aggregates, lines)
        async with asyncio.TaskGroup() as group:
            for what, write, server_lines, _ in routed:
                group.create_task(write_one(what, write, server_lines))

    return write_idle


def start_windows(
    worker: Worker, *, sinks: PlantSinks, pause: Callable[[], Awaitable[None]] | None
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
        idle_writer=idle_aggregates_writer(sinks, settings),
    )
    if settings.pipeline_web_port is not None:
        serve_metrics(app, "/windows/metrics/", windows.registry)
    app.crashing_task("pipeline.windows_idle", windows.run_idle_closer)
    return windows
