"""Health and readiness of the connector, over HTTP for compose and orchestrators.

Served by the connector's own event loop (``MILLSTREAM_CONNECTOR_HEALTH_PORT``, off by
default), so an answer proves that the loop runs:

- ``GET /health/live`` is 200 ``{"status": "live"}`` whenever it answers;
- ``GET /health/ready`` is 200 ``{"status": "ready"}`` when Kafka is reachable and the
  devices are being polled, else 503 ``{"status": "not ready", "reason": ...}``.

Both rules look at progress, not at connections the clients keep to themselves:

- Kafka is reachable when the producer is connected and either nothing waits to be
  delivered or Kafka acknowledged a reading within the last ``stall_s``;
- the devices are being polled when every poller has tried at least once (a scan, or a
  failed connection: a device that is down is still being polled) and the pollers together
  tried again within the last ``stall_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence

import orjson

from connectors.modbus.poller import DevicePoller

logger = logging.getLogger(__name__)

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class _Progress:
    """When a count last changed (monotonic seconds)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._count = -1
        self._at = clock()

    def idle_s(self, count: int) -> float:
        now = self._clock()
        if count != self._count:
            self._count, self._at = count, now
        return now - self._at


class ConnectorHealth:
    """The readiness rule (module docstring); ``counters`` is the Kafka side's."""

    def __init__(
        self,
        pollers: Sequence[DevicePoller],
        *,
        connected: Callable[[], bool],
        counters: Callable[[], Mapping[str, int]],
        stall_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pollers = pollers
        self._connected = connected
        self._counters = counters
        self._stall_s = stall_s
        self._delivered = _Progress(clock)
        self._attempts = _Progress(clock)

    def not_ready(self) -> str:
        """``""`` when ready, else why not."""
        if not self._connected():
            return "not connected to Kafka yet"
        kafka = self._counters()
        waiting = kafka.get("spooled", 0) + kafka.get("in_flight", 0)
        idle_s = self._delivered.idle_s(kafka.get("delivered", 0))
        if waiting and idle_s > self._stall_s:
            return f"Kafka acknowledged nothing for {idle_s:.0f} s ({waiting} readings waiting)"
        attempts = [_attempts(p) for p in self._pollers]
        never = [p.device.machine_id for p, n in zip(self._pollers, attempts, strict=True) if not n]
        if never:
            return f"devices not polled yet: {', '.join(never[:10])}"
        idle_s = self._attempts.idle_s(sum(attempts))
        if idle_s > self._stall_s:
            return f"no device polled for {idle_s:.0f} s"
        return ""


def _attempts(poller: DevicePoller) -> int:
    stats = poller.stats
    return stats.scans + stats.transport_errors + stats.unexpected_errors


async def serve_health(
    health: ConnectorHealth, *, host: str, port: int, stop: asyncio.Event
) -> None:
    """Answer ``/health/live`` and ``/health/ready`` on ``host:port`` until ``stop``."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            status, body = _route(health, request)
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(answer, host, port)
    logger.info("health served address=http://%s:%d/health/ready", host, port)
    async with server:
        await stop.wait()


def _route(health: ConnectorHealth, request_line: bytes) -> tuple[int, bytes]:
    parts = request_line.decode("latin-1").split()
    if len(parts) < 2:
        return 404, b'{"status": "unknown path"}'
    method, path = parts[0], parts[1].split("?", 1)[0].rstrip("/")
    if path not in ("/health/live", "/health/ready"):
        return 404, b'{"status": "unknown path", "paths": ["/health/live", "/health/ready"]}'
    if method not in ("GET", "HEAD"):
        return 405, b'{"status": "use GET"}'
    if path == "/health/live":
        return 200, b'{"status": "live"}'
    reason = health.not_ready()
    if reason:
        return 503, orjson.dumps({"status": "not ready", "reason": reason})
    return 200, b'{"status": "ready"}'
