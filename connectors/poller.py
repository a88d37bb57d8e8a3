"""The poll loop of one device: read its registers every ``poll_interval_s``.

Two error channels, as in pymodbus:

- the transport broke (``ModbusException``, ``OSError``: refused, reset, timed out):
  the scan is dropped, logged with context and counted, the connection is closed and
  re-opened after a backoff that doubles up to ``backoff_max_s``;
- the device refused a request (``response.isError()``): that request's values get
  quality ``bad`` in the reading (see :mod:`connectors.scan`), counted and logged when
  the refusal starts and when it ends.

Each device has its own poller and connection, so one failing device never stops the
others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from connectors.devices import Device
from connectors.lifecycle import sleep_unless_stopped
from connectors.scan import BlockAnswer, ReadRequest, assemble_reading, plan_requests
from contracts.readings import Reading
from contracts.timefmt import now_ms

logger = logging.getLogger(__name__)

ReadingSink = Callable[[Reading], None]


class TransportError(Exception):
    """The connection to the device failed; the poller reconnects."""


@dataclass(slots=True)
class PollStats:
    """Counters of one device's poller."""

    scans: int = 0
    readings: int = 0
    skipped_scans: int = 0
    refused_requests: int = 0
    transport_errors: int = 0
    unexpected_errors: int = 0
    connects: int = 0
    overruns: int = 0


class DevicePoller:
    """Polls one device and hands every reading to ``sink``."""

    def __init__(
        self,
        device: Device,
        *,
        sink: ReadingSink,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.device = device
        self.stats = PollStats()
        self._sink = sink
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._clock_ms = clock_ms
        self._requests = plan_requests(device.registers, max_gap_registers=device.max_gap_registers)
        self._client: AsyncModbusTcpClient | None = None
        self._seq = 0
        self._last_good: dict[str, float] = {}
        self._refusing: set[ReadRequest] = set()

    @property
    def requests(self) -> tuple[ReadRequest, ...]:
        """The read requests of one scan."""
        return self._requests

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; never raises for device or network trouble.

        An unexpected error in a scan is logged with its traceback, counted in
        ``unexpected_errors`` and handled like a transport failure, so it cannot stop the
        pollers of other devices.
        """
        loop = asyncio.get_running_loop()
        interval_s = self.device.poll_interval_s
        backoff_s = self._backoff_initial_s
        try:
            next_scan = loop.time()
            while not stop.is_set():
                try:
                    await self.scan_once()
                except TransportError as exc:
                    self.stats.transport_errors += 1
                    logger.warning(
                        "modbus transport failed machine_id=%s source=%s error=%s "
                        "retry_in_s=%.1f failures=%d",
                        self.device.machine_id,
                        self.device.source,
                        exc,
                        backoff_s,
                        self.stats.transport_errors,
                    )
                except Exception:
                    self.stats.unexpected_errors += 1
                    logger.exception(
                        "scan failed unexpectedly machine_id=%s source=%s retry_in_s=%.1f",
                        self.device.machine_id,
                        self.device.source,
                        backoff_s,
                    )
                else:
                    backoff_s = self._backoff_initial_s
                    next_scan, missed = next_deadline(next_scan, interval_s, now_s=loop.time())
                    self.stats.overruns += missed
                    await sleep_unless_stopped(stop, next_scan - loop.time())
                    continue
                self._close()
                await sleep_unless_stopped(stop, backoff_s)
                backoff_s = min(backoff_s * 2, self._backoff_max_s)
                next_scan = loop.time()
        finally:
            self._close()

    async def scan_once(self) -> Reading | None:
        """Read every request once, hand the reading (if any) to the sink and return it.

        Raises :class:`TransportError` when the device cannot be reached.
        """
        client = await self._connected_client()
        ts_ms = self._clock_ms()
        answers = [await self._read(client, request) for request in self._requests]
        self.stats.scans += 1
        reading = assemble_reading(
            self.device, answers, ts_ms=ts_ms, seq=self._seq + 1, last_good=self._last_good
        )
        if reading is None:
            self.stats.skipped_scans += 1
            logger.debug(
                "scan skipped machine_id=%s reason=no_value skipped=%d",
                self.device.machine_id,
                self.stats.skipped_scans,
            )
            return None
        self._seq = reading.seq
        for name, value in reading.values.items():
            if reading.quality_of(name) == "good":
                self._last_good[name] = value
        self.stats.readings += 1
        self._sink(reading)
        return reading

    async def _connected_client(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._close()
        client = AsyncModbusTcpClient(
            self.device.host,
            port=self.device.port,
            name=f"machine-{self.device.machine_id}",
            timeout=self.device.timeout_s,
            retries=0,
            reconnect_delay=0,
        )
        try:
            connected = await client.connect()
        except (ModbusException, OSError) as exc:
            client.close()
            raise TransportError(f"connect failed: {exc}") from exc
        if not connected:
            client.close()
            raise TransportError("connect failed")
        self._client = client
        self.stats.connects += 1
        logger.info(
            "modbus connected machine_id=%s source=%s connects=%d",
            self.device.machine_id,
            self.device.source,
            self.stats.connects,
        )
        return client

    async def _read(self, client: AsyncModbusTcpClient, request: ReadRequest) -> BlockAnswer:
        read = (
            client.read_holding_registers
            if request.table == "holding"
            else client.read_input_registers
        )
        try:
            response: ModbusPDU = await read(
                request.address, count=request.count, device_id=self.device.device_id
            )
        except (ModbusException, OSError, TimeoutError) as exc:
            raise TransportError(
                f"{request.table} {request.address}+{request.count}: {exc}"
            ) from exc
        if response.isError():
            code = getattr(response, "exception_code", None)
            return self._refused(request, f"exception_code={code}")
        if len(response.registers) != request.count:
            return self._refused(request, f"short_answer={len(response.registers)}")
        if request in self._refusing:
            self._refusing.discard(request)
            logger.info(
                "modbus request answered again machine_id=%s table=%s address=%d count=%d",
                self.device.machine_id,
                request.table,
                request.address,
                request.count,
            )
        return BlockAnswer(request=request, registers=response.registers)

    def _refused(self, request: ReadRequest, reason: str) -> BlockAnswer:
        self.stats.refused_requests += 1
        if request not in self._refusing:
            self._refusing.add(request)
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

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def next_deadline(previous_s: float, interval_s: float, *, now_s: float) -> tuple[float, int]:
    """The next scan time on the ``interval_s`` grid after ``previous_s`` that is not
    already past, and how many grid points were skipped to reach it (overruns)."""
    deadline = previous_s + interval_s
    if deadline >= now_s:
        return deadline, 0
    missed = int((now_s - deadline) // interval_s) + 1
    return deadline + missed * interval_s, missed
