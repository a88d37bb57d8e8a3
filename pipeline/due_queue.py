"""Keys by the time they fall due: the worker's timers look only at what is due.

A timer that scanned every machine each tick would cost the machine count per tick, even
when nothing is due. A :class:`DueQueue` holds each key once, at the earliest time it was
asked to look at it (a min-heap with lazy deletion): :meth:`DueQueue.at_most` moves a key
earlier, never later, and :meth:`DueQueue.pop_due` returns the keys due by a time. A key
whose real due time moved later is simply looked at early; the caller works out the new
time then and puts it back, so keeping a machine's time up to date per reading costs a
dictionary lookup, and each due key costs O(log n).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from itertools import count
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class DueQueue(Generic[K]):
    def __init__(self) -> None:
        self._due: dict[K, int] = {}
        self._heap: list[tuple[int, int, K]] = []
        self._tie = count()

    def at_most(self, key: K, due_ms: int) -> None:
        """Look at ``key`` by ``due_ms`` at the latest (earlier if it is queued earlier)."""
        queued = self._due.get(key)
        if queued is not None and queued <= due_ms:
            return
        self._due[key] = due_ms
        heapq.heappush(self._heap, (due_ms, next(self._tie), key))
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._compact()

    def discard(self, key: K) -> None:
        self._due.pop(key, None)

    def pop_due(self, now_ms: int) -> list[K]:
        """Remove and return the keys due at or before ``now_ms``, earliest first."""
        out: list[K] = []
        heap = self._heap
        due = self._due
        while heap and heap[0][0] <= now_ms:
            at, _, key = heapq.heappop(heap)
            if due.get(key) == at:
                del due[key]
                out.append(key)
        return out

    def due_ms(self, key: K) -> int | None:
        return self._due.get(key)

    def clear(self) -> None:
        self._due.clear()
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def _compact(self) -> None:
        self._heap = [(at, next(self._tie), key) for key, at in self._due.items()]
        heapq.heapify(self._heap)
