"""Publishing raw records through the Faust app's producer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import faust

from kafka_edge.records import Record
from pipeline.storage.delivery import PublishError

# How long a publish waits for the broker's acknowledgements before it fails (and the
# caller's retry policy sends the records again; consumers drop what they already have).
# Faust's producer would otherwise keep retrying a record for its request timeout, 20 min.
ACK_TIMEOUT_S = 30.0


class FaustPublisher:
    """The worker's :class:`~kafka_edge.records.Publisher`: produces raw records to any
    topic by name; returns once the broker has them all."""

    def __init__(self, app: faust.App, *, ack_timeout_s: float = ACK_TIMEOUT_S) -> None:
        self._app = app
        self._ack_timeout_s = ack_timeout_s
        self._topics: dict[str, Any] = {}

    def _topic(self, name: str) -> Any:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = self._app.topic(
                name, key_serializer="raw", value_serializer="raw"
            )
        return topic

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        if not records:
            return
        channel = self._topic(topic)
        try:
            pending = [
                await channel.send(key=record.key, value=record.value, force=True)
                for record in records
            ]
            await asyncio.wait_for(asyncio.gather(*pending), self._ack_timeout_s)
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            raise PublishError(
                f"topic {topic}: {len(records)} records not acknowledged "
                f"within {self._ack_timeout_s:.0f} s"
            ) from exc
        except Exception as exc:
            raise PublishError(
                f"topic {topic}: {len(records)} records not published: {exc}"
            ) from exc
