"""One read request on the wire, and its answer as a :class:`BlockAnswer`.

A request the device refuses (``response.isError()``) or answers short is a
:class:`BlockAnswer` without registers: its values turn ``bad`` in the reading. A refusal
is counted each time and logged when it starts and when the request is answered again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.config.devices import Device
from connectors.modbus.connection import TRANSPORT_ERRORS, TransportError
from connectors.modbus.poll_stats import PollStats
from connectors.modbus.scan import BlockAnswer, ReadRequest

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class BlockReader:
    """Sends the read requests of one device and remembers which ones it refuses."""

    device: Device
    stats: PollStats
    observe_request_s: Callable[[float], None] | None = None
    # The requests (by id) the device refused last time it was asked.
    _refusing: set[int] = field(default_factory=set)

    async def read(self, client: Any, request: ReadRequest) -> BlockAnswer:
        """Read ``request`` with ``client``; :class:`TransportError` if the transport broke."""
        table = request.table
        if table == "holding":
            read = client.read_holding_registers
        elif table == "input":
            read = client.read_input_registers
        elif table == "coil":
            read = client.read_coils
        else:
            read = client.read_discrete_inputs
        started_s = time.monotonic()  # the event loop's clock
        try:
            response = await read(
                request.address, count=request.count, device_id=self.device.device_id
            )
        except TRANSPORT_ERRORS as exc:
            raise TransportError(f"{table} {request.address}+{request.count}: {exc}") from exc
        self.stats.requests += 1
        if self.observe_request_s is not None:
            self.observe_request_s(time.monotonic() - started_s)
        if response.isError():
            code = getattr(response, "exception_code", None)
            return self._refused(request, f"exception_code={code}")
        data = response.registers if table in ("holding", "input") else response.bits
        if len(data) < request.count:
            return self._refused(request, f"short_answer={len(data)}")
        if self._refusing and id(request) in self._refusing:
            self._refusing.discard(id(request))
            logger.info(
                "modbus request answered again machine_id=%s table=%s address=%d count=%d",
                self.device.machine_id,
                table,
                request.address,
                request.count,
            )
        return BlockAnswer(request=request, registers=data, raw=getattr(response, "raw", b""))

    def _refused(self, request: ReadRequest, reason: str) -> BlockAnswer:
        self.stats.refused_requests += 1
        if id(request) not in self._refusing:
            self._refusing.add(id(request))
            logger.warning(
                "modbus request refused machine_id=%s source=%s table=%s address=%d "
                "count=%d %s sensors=%s",
                self.device.machine_id,
                self.device.source,
                request.table,
                request.address,
                request.count,
                reason,
                ",".join(r.name for r in request.registers),
            )
        return BlockAnswer(request=request, registers=None, refusal=reason)
