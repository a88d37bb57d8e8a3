"""Readings decoded once for both paths.

The readings reader (:mod:`pipeline.alarms.readings_reader`) and the storage path read the same
records of the readings topic, the readings reader first. Decoding was the largest share of
the worker's time, so the readings reader leaves what it decoded here and the storage path
takes it, by partition and offset, instead of decoding again. A record it does not find
(the storage path ahead, the cache full, a record that did not decode) it decodes itself,
so the cache changes no result, only the time.

The other way round too: where the storage path reaches records first (the readings reader
slowed by many machines' alarm state), the storage path leaves what it decoded for the
readings reader (:meth:`DecodedReadings.leave_for_alarms`), so no record is decoded twice
either way.

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


class _Kept:
    """Decoded readings by ``(topic, partition)``, in offset order, at most ``max`` in all."""

    def __init__(self, max_readings: int) -> None:
        self.max = max_readings
        self.size = 0
        self._by_partition: dict[tuple[str, int], deque[tuple[int, Reading]]] = {}
        self.hits = 0
        self.misses = 0

    def kept(self, topic: str, partition: int) -> int:
        queue = self._by_partition.get((topic, partition))
        return len(queue) if queue else 0

    def put(self, topic: str, partition: int, decoded: Iterable[tuple[int, Reading]]) -> None:
        queue = self._by_partition.setdefault((topic, partition), deque())
        for item in decoded:
            if queue and item[0] <= queue[-1][0]:
                # Read again from an earlier offset (a seek back): start over.
                self.size -= len(queue)
                queue.clear()
            if self.size >= self.max:
                return
            queue.append(item)
            self.size += 1

    def take(self, topic: str, partition: int, offset: int) -> Reading | None:
        queue = self._by_partition.get((topic, partition))
        while queue:
            first_offset, reading = queue[0]
            if first_offset > offset:
                break
            queue.popleft()
            self.size -= 1
            if first_offset == offset:
                self.hits += 1
                return reading
        self.misses += 1
        return None

    def forget(self, topic: str, partition: int) -> None:
        queue = self._by_partition.pop((topic, partition), None)
        if queue:
            self.size -= len(queue)


class DecodedReadings:
    def __init__(self, max_readings: int = DEFAULT_MAX_READINGS) -> None:
        self._max = max_readings
        # Left by the readings reader for the storage path, and the other way round.
        self._for_storage = _Kept(max_readings)
        self._for_alarms = _Kept(max_readings)
        # Per (topic, partition): the offset the readings reader reads next.
        self._reader_next: dict[tuple[str, int], int] = {}
        # When the storage path last took from the cache (monotonic seconds), and whether
        # it waits on InfluxDB now (set by the storage path around handing a batch over).
        self._last_take = -math.inf
        self.storage_blocked = False

    def __len__(self) -> int:
        return self._for_storage.size

    @property
    def hits(self) -> int:
        return self._for_storage.hits

    @property
    def misses(self) -> int:
        return self._for_storage.misses

    def partition_share(self, partitions: int) -> int:
        """Readings one of ``partitions`` partitions may keep: an equal share of the bound."""
        return self._max // max(partitions, 1)

    def storage_working(self, idle_s: float) -> bool:
        """Whether the storage path is at work: not waiting on InfluxDB (its batches full),
        and it took from the cache in the last ``idle_s``."""
        return not self.storage_blocked and time.monotonic() - self._last_take < idle_s

    def kept(self, topic: str, partition: int) -> int:
        """Readings of the partition kept for the storage path, not yet taken."""
        return self._for_storage.kept(topic, partition)

    def put(self, topic: str, partition: int, decoded: Iterable[tuple[int, Reading]]) -> None:
        """Keep readings of one partition for the storage path, given in offset order after
        any kept before."""
        if self._last_take == -math.inf:
            # The storage path counts as working from the first reading kept for it.
            self._last_take = time.monotonic()
        self._for_storage.put(topic, partition, decoded)

    def take(self, topic: str, partition: int, offset: int) -> Reading | None:
        """The reading decoded at ``offset`` for the storage path, if kept; what lies before
        it is dropped."""
        self._last_take = time.monotonic()
        return self._for_storage.take(topic, partition, offset)

    def leave_for_alarms(
        self, topic: str, partition: int, decoded: Iterable[tuple[int, Reading]]
    ) -> None:
        """Keep readings the storage path decoded itself, for the readings reader (given in
        offset order, up to the bound), from the offset the reader reads next on: those are
        not decoded again."""
        next_offset = self._reader_next.get((topic, partition))
        if next_offset is not None:
            decoded = [item for item in decoded if item[0] >= next_offset]
        self._for_alarms.put(topic, partition, decoded)

    def reader_at(self, topic: str, partition: int, next_offset: int) -> None:
        """The readings reader reads ``next_offset`` of the partition next."""
        self._reader_next[(topic, partition)] = next_offset

    def ahead_for_alarms(self, topic: str, partition: int) -> bool:
        """Whether the storage path left readings of the partition for the readings reader."""
        return self._for_alarms.kept(topic, partition) > 0

    def take_for_alarms(self, topic: str, partition: int, offset: int) -> Reading | None:
        """The reading the storage path decoded at ``offset``, if left; what lies before it
        is dropped."""
        return self._for_alarms.take(topic, partition, offset)

    def forget(self, topic: str, partition: int) -> None:
        self._for_storage.forget(topic, partition)
        self._for_alarms.forget(topic, partition)
        self._reader_next.pop((topic, partition), None)
