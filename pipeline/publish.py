"""Publishing raw ``(key, value)`` records through the Faust app's producer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import faust

from pipeline.delivery import PublishError


class FaustPublisher:
    """Produces raw records to any topic by name; returns once the broker has them all."""

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
