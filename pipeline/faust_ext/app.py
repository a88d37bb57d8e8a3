"""The pipeline's Faust app: its consumer hands registered topics over chunk by chunk."""

from __future__ import annotations

from typing import Any

import faust

from pipeline.faust_ext.chunks import ChunkConsumer


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
