"""A crowd of WebSocket clients in a process of its own, for the fan-out scenario.

``Crowd.run`` connects ``n`` clients (authenticating and subscribing when told to), reports
ready, receives until ``duration_s`` passes, and returns counts and sampled latencies
(arrival minus the frame's ``ts``, same host clock) through a queue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import orjson


def _ts_s(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class Crowd:
    """``n`` clients of ``url`` receiving for ``duration_s``; with ``api_key``, each one
    authenticates and subscribes to one of ``machines``, in turn."""

    url: str
    n: int
    machines: list[str]
    api_key: str | None
    duration_s: float

    def run(self, ready: Any, go: Any, out: Any) -> None:
        """A process's target: connect, set ``ready``, wait for ``go``, receive, then put
        the counts and latencies on ``out``."""
        out.put(asyncio.run(self._receive(ready, go)))

    async def _receive(self, ready: Any, go: Any) -> dict[str, Any]:
        import websockets

        conns = []
        for i in range(self.n):
            ws = await websockets.connect(self.url, max_size=2**22, open_timeout=30)
            if self.api_key is not None:
                await ws.send(orjson.dumps({"action": "auth", "api_key": self.api_key}).decode())
                machine_id = self.machines[i % len(self.machines)]
                await ws.send(
                    orjson.dumps({"action": "subscribe", "machine_id": machine_id}).decode()
                )
            conns.append(ws)
        await asyncio.sleep(1.0)
        ready.set()
        while not go.is_set():
            await asyncio.sleep(0.05)
        counts = [0]
        first: list[float] = []
        last: list[float] = []
        latencies: list[float] = []

        async def recv(ws: Any, idx: int) -> None:
            try:
                async for raw in ws:
                    t = time.time()
                    counts[0] += 1
                    if not first:
                        first.append(t)
                    last[:] = [t]
                    if idx % 10 == 0:
                        frame = orjson.loads(raw)
                        if frame.get("type") == "reading" and "ts" in frame:
                            latencies.append((t - _ts_s(frame["ts"])) * 1000)
                        elif "sent" in frame:
                            latencies.append((t - frame["sent"]) * 1000)
            except Exception:  # noqa: S110 - a closed connection ends this client's count
                pass

        tasks = [asyncio.create_task(recv(ws, i)) for i, ws in enumerate(conns)]
        await asyncio.sleep(self.duration_s)
        for t in tasks:
            t.cancel()
        for ws in conns:
            await ws.close()
        span = (last[0] - first[0]) if first and last else 0.0
        return {"frames": counts[0], "span_s": span, "latencies_ms": latencies[:200_000]}


def bare_server(port: int, n: int, frames: int, frame_bytes: int, ready: Any, go: Any) -> None:
    """A bare ``websockets.broadcast`` server: once ``n`` clients are connected and ``go`` is
    set, broadcast ``frames`` frames of ``frame_bytes`` as fast as it can."""

    async def main() -> None:
        import websockets

        clients: set[Any] = set()

        async def handler(ws: Any) -> None:
            clients.add(ws)
            try:
                await ws.wait_closed()
            finally:
                clients.discard(ws)

        # Without compression, as the API serves /live.
        async with websockets.serve(handler, "127.0.0.1", port, max_size=2**22, compression=None):
            ready.set()
            while not go.is_set():
                await asyncio.sleep(0.05)
            pad = "x" * max(0, frame_bytes - 40)
            for i in range(frames):
                websockets.broadcast(
                    clients, orjson.dumps({"sent": time.time(), "i": i, "p": pad}).decode()
                )
                if i % 20 == 0:
                    await asyncio.sleep(0)
            await asyncio.sleep(5)

    asyncio.run(main())
