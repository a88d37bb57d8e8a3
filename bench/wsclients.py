"""A crowd of WebSocket clients in a process of its own, for the fan-out scenario.

``Crowd.run`` connects ``n`` clients (authenticating and subscribing when told to), reports
ready, receives until ``duration_s`` passes, and returns counts and sampled latencies
(arrival minus the frame's ``ts``, same host clock) through a queue, with the process's own
CPU over the receiving time, so a figure can show that the clients were not its limit.
Several crowds, one per process, make one larger crowd: ``offset`` numbers a crowd's first
client within it.
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
    authenticates and subscribes to one of ``machines``, in turn (client ``offset + i``
    takes machine ``(offset + i) % len(machines)``)."""

    url: str
    n: int
    machines: list[str]
    api_key: str | None
    duration_s: float
    offset: int = 0

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
                machine_id = self.machines[(self.offset + i) % len(self.machines)]
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
        cpu: list[float] = []  # the process's CPU time at its first frame and its last

        async def recv(ws: Any, idx: int) -> None:
            try:
                async for raw in ws:
                    t = time.time()
                    counts[0] += 1
                    if not first:
                        first.append(t)
                        cpu[:] = [time.process_time()] * 2
                    last[:] = [t]
                    cpu[1] = time.process_time()
                    if idx % 10 == 0:
                        frame = orjson.loads(raw)
                        if frame.get("type") == "reading" and "ts" in frame:
                            latencies.append((t - _ts_s(frame["ts"])) * 1000)
                        elif "sent" in frame:
                            latencies.append((t - frame["sent"]) * 1000)
            except Exception:  # noqa: S110 - a closed connection ends this client's count
                pass

        tasks = [asyncio.create_task(recv(ws, self.offset + i)) for i, ws in enumerate(conns)]
        await asyncio.sleep(self.duration_s)
        # CPU over the frames' span, not the whole wait: a burst lasts a second of twenty.
        span = last[0] - first[0] if first else 0.0
        cpu_pct = 100 * (cpu[1] - cpu[0]) / span if span else 0.0
        for t in tasks:
            t.cancel()
        for ws in conns:
            await ws.close()
        return {
            "frames": counts[0],
            "first": first[0] if first else None,
            "last": last[0] if last else None,
            "cpu_pct": cpu_pct,
            "latencies_ms": latencies[:200_000],
        }


def merged(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The crowds' results as one: frames and latencies summed, the span from the first
    frame any crowd got to the last, and each process's CPU (% of a core), in order."""
    firsts = [r["first"] for r in results if r["first"] is not None]
    lasts = [r["last"] for r in results if r["last"] is not None]
    return {
        "frames": sum(r["frames"] for r in results),
        "span_s": max(lasts) - min(firsts) if firsts and lasts else 0.0,
        "cpu_pct": [r["cpu_pct"] for r in results],
        "latencies_ms": [x for r in results for x in r["latencies_ms"]],
    }


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
