"""Readings decoded once for both paths.

The readings reader (:mod:`pipeline.alarms.readings_reader`) and the storage path read the same
records of the readings topic, the readings reader first. Decoding was the largest share of
the worker's time, so the readings reader leaves what it decoded here and the storage path
takes it, by partition and offset, instead of decoding again. A record it does not find
(the storage path ahead, the cache full, a record that did not decode) it decodes itself,
so the cache changes no result, only the time.

Bounded: past ``max_readings`` (the storage path far behind, InfluxDB away) nothing more
is kept until the storage path takes what is there. Catching up on a backlog, the readings
reader would run ahead of the storage path by more than that and leave it to decode most
records a second time; so, while the cache has no room for its next fetch, the reader lets
the storage path catch up as long as it is working (see
:meth:`pipeline.alarms.readings_reader.ReadingsReader._storage_first`).
"""

from __future__ import annotations

import math
import time
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
        # When the storage path last took from the cache (monotonic seconds), and whether
        # it waits on InfluxDB now (set by the storage path around handing a batch over).
        self._last_take = -math.inf
        self.storage_blocked = False

    def __len__(self) -> int:
        return self._size

    def partition_share(self, partitions: int) -> int:
        """Readings one of ``partitions`` partitions may keep: an equal share of the bound."""
        return self._max // max(partitions, 1)

    def storage_working(self, idle_s: float) -> bool:
        """Whether the storage path is at work: not waiting on InfluxDB (its batches full),
        and it took from the cache in the last ``idle_s``."""
        return not self.storage_blocked and time.monotonic() - self._last_take < idle_s

    def kept(self, topic: str, partition: int) -> int:
        """Readings of the partition kept, not yet taken."""
        queue = self._by_partition.get((topic, partition))
        return len(queue) if queue else 0

    def put(self, topic: str, partition: int, decoded: Iterable[tuple[int, Reading]]) -> None:
        """Keep readings of one partition, given in offset order after any kept before."""
        if self._last_take == -math.inf:
            # The storage path counts as working from the first reading kept for it.
            self._last_take = time.monotonic()
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
        self._last_take = time.monotonic()
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
