"""One connected ``/live`` client and the queue of frames waiting for its socket."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from api.auth.roles import Identity
from api.live.queue import FrameQueue


@dataclass(eq=False)
class LiveClient:
    """One connected ``/live`` client: who it is, what it wants, what waits to be sent."""

    client_id: int
    identity: Identity
    queue: FrameQueue
    subscriptions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflow: str | None = None
    # While a reconnecting client's missed alarms are replayed, live alarm frames wait here.
    held_alarms: list[bytes] | None = None
    aggregates: set[str] = field(default_factory=set)

    def push_alarm(self, frame: bytes) -> bool:
        if self.held_alarms is not None:
            self.held_alarms.append(frame)
            return True
        return self.push_essential(frame)

    def release_alarms(self) -> bool:
        """End a replay: queue the live alarm frames held meanwhile, in order."""
        held, self.held_alarms = self.held_alarms or [], None
        return all(self.push_essential(frame) for frame in held)

    def push_reading(self, frame: bytes) -> None:
        self.queue.put_reading(frame)
        self.wake.set()

    def push_essential(self, frame: bytes, *, reply: bool = False) -> bool:
        """Queue an alarm or (``reply``) an answer to the client's own message; False (and
        the client marked overflowed, saying which filled its queue) if no room."""
        if not self.queue.put_essential(frame):
            self.overflow = (
                "too many messages: it sent faster than it read the replies"
                if reply
                else "too slow: its queue is full of undelivered alarms"
            )
            self.wake.set()
            return False
        self.wake.set()
        return True

    def send(self, frame: dict[str, Any]) -> bool:
        """Queue a reply to one of the client's messages."""
        return self.push_essential(orjson.dumps(frame), reply=True)
