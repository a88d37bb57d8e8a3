"""The outbound queue of one ``/live`` client and its overload policy.

- Readings are expendable: when the queue is full the oldest queued reading is dropped
  (the client then sees the freshest values), and the drops are counted and reported to
  the client as ``{"type": "dropped", "count": n}`` ahead of its next frame.
- Alarms and control replies are essential: a full queue makes room by dropping a
  reading; if the queue holds nothing but essential frames, ``put_essential`` returns
  False and the caller disconnects the client rather than lose an alarm silently.
"""

from __future__ import annotations

from collections import deque

import orjson

from api.live.protocol import dropped_frame


class FrameQueue:
    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("capacity: must be at least 2")
        self.capacity = capacity
        self._frames: deque[tuple[bool, bytes]] = deque()  # (essential, frame)
        self._readings = 0
        self.pending_dropped = 0
        self.dropped_total = 0

    def __len__(self) -> int:
        return len(self._frames)

    def __bool__(self) -> bool:
        return bool(self._frames) or self.pending_dropped > 0

    def put_reading(self, frame: bytes) -> None:
        if len(self._frames) >= self.capacity and not self._drop_oldest_reading():
            self._count_drop()
            return
        self._frames.append((False, frame))
        self._readings += 1

    def put_essential(self, frame: bytes) -> bool:
        if len(self._frames) >= self.capacity and not self._drop_oldest_reading():
            return False
        self._frames.append((True, frame))
        return True

    def pop(self) -> bytes | None:
        """The next frame to send: a pending drop notice first, then queued frames in order."""
        if self.pending_dropped:
            notice = orjson.dumps(dropped_frame(self.pending_dropped))
            self.pending_dropped = 0
            return notice
        if not self._frames:
            return None
        essential, frame = self._frames.popleft()
        if not essential:
            self._readings -= 1
        return frame

    def _drop_oldest_reading(self) -> bool:
        if self._readings == 0:
            return False
        for i, (essential, _) in enumerate(self._frames):
            if not essential:
                del self._frames[i]
                self._readings -= 1
                self._count_drop()
                return True
        return False  # pragma: no cover - _readings says there is one

    def _count_drop(self) -> None:
        self.pending_dropped += 1
        self.dropped_total += 1
