"""The pipeline's Faust app: its consumer hands registered topics over chunk by chunk, and
its long-running tasks stop the worker when they fail."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust

from pipeline.faust_ext.chunks import ChunkConsumer

logger = logging.getLogger(__name__)


class PipelineApp(faust.App):  # type: ignore[misc]
    """A Faust app whose consumer is a :class:`ChunkConsumer` (Faust's private
    ``_new_consumer`` overridden)."""

    def _new_consumer(self) -> Any:
        transport: Any = self.transport
        return ChunkConsumer(
            transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=transport.loop,
        )

    @property
    def chunk_consumer(self) -> ChunkConsumer:
        return cast(ChunkConsumer, self.consumer)

    def crashing_task(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` as a task of the worker; an unexpected exception in it stops the
        worker (exit code 1) instead of going on without it."""

        async def task() -> None:
            try:
                await run()
            except Exception as exc:
                logger.exception("%s stopped by an unexpected error; stopping the worker", name)
                await self.crash(exc)
                raise

        task.__name__ = name
        self.task(task)
