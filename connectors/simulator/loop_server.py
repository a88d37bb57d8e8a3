"""pymodbus' TCP server, answering each request as a task of its own event loop.

pymodbus 3.16 hands every decoded request to ``asyncio.run_coroutine_threadsafe``, although
it already runs in the loop's thread: per request a ``concurrent.futures.Future``, a
``threading.Condition`` and a write to the loop's self-pipe (a system call that wakes the
loop once more). With thirty-tag machines polled at 50 Hz that was a tenth of the
simulator's time. The subclasses below schedule the same coroutine with
``loop.create_task``, through pymodbus' own extension point (the server builds a handler
per connection in ``callback_new_connection``); the request is handled by pymodbus' own code.
"""

from __future__ import annotations

import asyncio

from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler


class LoopRequestHandler(ServerRequestHandler):
    """pymodbus' handler of one connection; requests run as tasks of its loop."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[no-untyped-call]
        # The requests in flight: the loop keeps only weak references to its tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    def handle_later(self) -> None:
        task = self.loop.create_task(self.handle_request())  # type: ignore[no-untyped-call]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class LoopModbusTcpServer(ModbusTcpServer):
    """``ModbusTcpServer`` whose connections are :class:`LoopRequestHandler`."""

    def callback_new_connection(self) -> LoopRequestHandler:
        return LoopRequestHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)
