"""A small TCP proxy between two Millstream parts, for injecting network faults.

It runs its own event loop in a thread; the test flips its knobs while traffic flows:

- ``latency_s``: every chunk waits this long before it is passed on (both ways);
- ``stalled``: nothing is passed on while set (connections stay open, bytes wait);
- :meth:`reset`: every open connection is closed with a TCP reset, at once;
- ``refuse_http_writes``: an HTTP request starting ``POST /api/v2/write`` (InfluxDB's write
  API) is answered ``503`` with a JSON body and the connection closed, as an overloaded
  InfluxDB answers; everything else passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

from infra.ports import free_port

REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 61\r\n\r\n"
    b'{"code":"unavailable","message":"write refused by the proxy"}'
)


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.latency_s = 0.0
        self.stalled = False
        self.refuse_http_writes = False
        self.refused = 0
        self.resets = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def reset(self) -> None:
        """Close every open connection with a TCP reset (SO_LINGER 0)."""
        done = threading.Event()

        def _reset() -> None:
            for w in list(self._writers):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                w.transport.abort()
            self.resets += 1
            done.set()

        self._loop.call_soon_threadsafe(_reset)
        done.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for w in list(self._writers):
                w.transport.abort()
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, writer, upstream=True),
                self._pipe(up_reader, writer, up_writer, upstream=False),
            )
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        back: asyncio.StreamWriter,
        *,
        upstream: bool,
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await src.read(65536):
                if upstream and self.refuse_http_writes and chunk.startswith(b"POST /api/v2/write"):
                    self.refused += 1
                    back.write(REFUSAL)
                    with contextlib.suppress(OSError):
                        await back.drain()
                    break
                while self.stalled:
                    await asyncio.sleep(0.05)
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                dst.write(chunk)
                await dst.drain()
        dst.transport.abort() if dst.transport.is_closing() else dst.close()
        back.close()


@contextlib.contextmanager
def proxy(host: str, port: int) -> Iterator[FaultProxy]:
    p = FaultProxy(host, port).start()
    try:
        yield p
    finally:
        p.close()
