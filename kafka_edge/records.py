"""The one record type and the one publisher interface of every service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record to produce: ``key`` (``None``: the partitioner picks), ``value``
    (``None``: a tombstone, which deletes the key from a compacted topic)."""

    key: bytes | None
    value: bytes | None


class Publisher(Protocol):
    """Produces records to a topic by name."""

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Produce ``records`` in order and return once the broker has acknowledged them
        all; raise (each service its own error type) when it has not."""
