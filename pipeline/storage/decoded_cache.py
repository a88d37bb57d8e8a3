"""Readings decoded once for both paths.

The readings reader (:mod:`pipeline.alarms.readings_reader`) and the storage path read the same
records of the readings topic, the readings reader first. Decoding was the largest share of
the worker's time, so the readings reader leaves what it decoded here and the storage path
takes it, by partition and offset, instead of decoding again. A record it does not find
(the storage path ahead, the cache full, a record that did not decode) it decodes itself,
so the cache changes no result, only the time.

Bounded: past ``max_readings`` (the storage path far behind, InfluxDB away) nothing more
is kept until the storage path takes what is there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from contracts.readings import Reading

# About 30 MB of readings of a few sensors each.
DEFAULT_MAX_READINGS = 50_000


class DecodedReadings:
    def __init__(self, max_readings: int = DEFAULT_MAX_READINGS) -> None:
        self._max = max_readings
        self._size = 0
        # Per (topic, partition): (offset, reading) in offset order.
        self._by_partition: dict[tuple[str, int], deque[tuple[int, Reading]]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return self._size

    def put(self, topic: str, partition: int, decoded: Iterable[tuple[int, Reading]]) -> None:
        """Keep readings of one partition, given in offset order after any kept before."""
        queue = self._by_partition.setdefault((topic, partition), deque())
        for item in decoded:
            if queue and item[0] <= queue[-1][0]:
                # Read again from an earlier offset (a seek back): start over.
                self._size -= len(queue)
                queue.clear()
            if self._size >= self._max:
                return
            queue.append(item)
            self._size += 1

    def take(self, topic: str, partition: int, offset: int) -> Reading | None:
        """The reading decoded at ``offset``, if kept; what lies before it is dropped."""
        queue = self._by_partition.get((topic, partition))
        while queue:
            first_offset, reading = queue[0]
            if first_offset > offset:
                break
            queue.popleft()
            self._size -= 1
            if first_offset == offset:
                self.hits += 1
                return reading
        self.misses += 1
        return None

    def forget(self, topic: str, partition: int) -> None:
        queue = self._by_partition.pop((topic, partition), None)
        if queue:
            self._size -= len(queue)
