"""The poll loop of one device: read each group of tags every ``poll_interval_s``.

Two error channels, as in pymodbus:

- the transport broke (``ModbusException``, ``OSError``: refused, reset, timed out):
  counted and logged, one reading of the last good values with quality ``comm_loss`` is
  published when the outage starts, the connection is closed and re-opened after an
  exponential backoff (doubling up to ``backoff_max_s``) with jitter, so a plant's
  devices coming back from a power cut are not all hammered at the same instant;
- the device refused a request (``response.isError()``): that request's values get
  quality ``bad`` in the reading (see :mod:`connectors.modbus.scan`), counted and logged when
  the refusal starts and when it ends.

A watchdog beside the loop publishes the last good values of tags whose group's scan is
late by more than one interval with quality ``stale`` (rule in :mod:`connectors.modbus.staleness`);
the connector runs one watchdog for all its pollers (:func:`watch_staleness`).

Tags are grouped by poll interval; each group is scanned on its own grid. A scan that
ends after its next slot counts one overrun (a late scan), and the missed slots are
skipped rather than read in a burst. Each device has its own poller and connection, so
one failing device never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from connectors.config.devices import Device
from connectors.lifecycle import sleep_unless_stopped
from connectors.modbus.deadband import ReportByException
from connectors.modbus.fast_pdu import register_fast_responses
from connectors.modbus.scan import (
    BlockAnswer,
    ReadRequest,
    ScanAssembler,
    comm_loss_reading,
    last_good_reading,
    plan_device,
)
from connectors.modbus.staleness import StaleTracker
from contracts.readings import Reading
from contracts.timefmt import now_ms
from kafka_edge.retry import RetryPolicy

logger = logging.getLogger(__name__)

ReadingSink = Callable[[Reading], None]
_TRANSPORT_ERRORS = (ModbusException, OSError, TimeoutError)
# Devices named with their tags in one "tags stale" line of the shared watchdog.
_STALE_SHOWN = 10


class TransportError(Exception):
    """The connection to the device failed; the poller reconnects."""


@dataclass(slots=True)
class PollStats:
    """Counters of one device's poller."""

    scans: int = 0
    readings: int = 0
    skipped_scans: int = 0
    requests: int = 0
    refused_requests: int = 0
    transport_errors: int = 0
    unexpected_errors: int = 0
    connects: int = 0
    overruns: int = 0
    stale_episodes: int = 0
    not_finite_values: int = 0
    values: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Group:
    interval_s: float
    requests: tuple[ReadRequest, ...]
    names: tuple[str, ...]
    due_s: float = 0.0


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
        rng: random.Random | None = None,
        observe_request_s: Callable[[float], None] | None = None,
        initial_seq: int = 0,
    ) -> None:
        self.device = device
        self.stats = PollStats()
        self._sink = sink
        # Reconnecting: doubling from backoff_initial_s up to backoff_max_s, each pause
        # drawn from its upper half; no deadline (a device may be away for days).
        self._reconnect = RetryPolicy(initial_s=backoff_initial_s, max_s=backoff_max_s)
        self._clock_ms = clock_ms
        self._rng = rng or random.Random()
        self._observe_request_s = observe_request_s
        self._requests = plan_device(device)
        self._groups = _groups(self._requests)
        self._assembler = ScanAssembler(device)
        self._deadband = ReportByException(device.registers)
        self._pause_s = device.workarounds.pause_between_requests_ms / 1000
        self._client: Any = None
        self._seq = initial_seq
        self._last_good: dict[str, float] = {}
        self._refusing: set[int] = set()
        self._in_outage = False
        self._stale: StaleTracker | None = None
        self.write_lock = asyncio.Lock()

    @property
    def requests(self) -> tuple[ReadRequest, ...]:
        """The read requests of every group, by interval."""
        return self._requests

    async def run(self, stop: asyncio.Event, *, watchdog: bool = True) -> None:
        """Poll until ``stop`` is set; never raises for device or network trouble.

        An unexpected error in a scan is logged with its traceback, counted in
        ``unexpected_errors`` and handled like a transport failure, so it cannot stop the
        pollers of other devices. ``watchdog=False``: the caller checks staleness itself
        (:func:`watch_staleness`, one task for many pollers).
        """
        loop = asyncio.get_running_loop()
        backoff = self._reconnect.start(rng=self._rng)
        for group in self._groups:
            group.due_s = loop.time()
        self._stale = StaleTracker(
            {n: g.interval_s for g in self._groups for n in g.names}, start_ms=_mono_ms()
        )
        watching = asyncio.create_task(watch_staleness([self], stop)) if watchdog else None
        try:
            while not stop.is_set():
                group = min(self._groups, key=lambda g: g.due_s)
                if await sleep_unless_stopped(stop, group.due_s - loop.time()):
                    break
                try:
                    await self._scan_group(group)
                except TransportError as exc:
                    self.stats.transport_errors += 1
                    self._outage(group)
                    delay_s = backoff.next_delay_s() or 0.0
                    logger.warning(
                        "modbus transport failed machine_id=%s source=%s error=%s "
                        "retry_in_s=%.1f failures=%d",
                        self.device.machine_id,
                        self.device.source,
                        exc,
                        delay_s,
                        self.stats.transport_errors,
                    )
                except Exception:
                    self.stats.unexpected_errors += 1
                    delay_s = backoff.next_delay_s() or 0.0
                    logger.exception(
                        "scan failed unexpectedly machine_id=%s source=%s retry_in_s=%.1f",
                        self.device.machine_id,
                        self.device.source,
                        delay_s,
                    )
                else:
                    if backoff.attempts:
                        backoff.reset()
                    group.due_s, late = next_deadline(
                        group.due_s, group.interval_s, now_s=loop.time()
                    )
                    self.stats.overruns += late
                    if self.device.workarounds.close_after_poll:
                        self._close()
                    continue
                self._close()
                await sleep_unless_stopped(stop, delay_s)
                for other in self._groups:
                    other.due_s = loop.time()
        finally:
            if watching is not None:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            self._close()

    @property
    def shortest_interval_s(self) -> float:
        """The shortest poll interval of the device's groups."""
        return min(g.interval_s for g in self._groups)

    def check_staleness(self, *, log: bool = True) -> list[str]:
        """Publish the last good values of the tags that went stale since the last check,
        marked ``stale``, and return those tags; nothing during a communication loss.

        ``log=False``: the caller logs (:func:`watch_staleness` logs one line per sweep).
        """
        if self._stale is None or self._in_outage:
            return []
        names = self._stale.newly_stale(now_ms=_mono_ms())
        if not names:
            return []
        self.stats.stale_episodes += 1
        if log:
            logger.warning(
                "tags stale machine_id=%s source=%s sensors=%s",
                self.device.machine_id,
                self.device.source,
                ",".join(names),
            )
        reading = last_good_reading(
            self.device,
            self._last_good,
            names,
            "stale",
            ts_ms=self._clock_ms(),
            seq=self._seq + 1,
        )
        if reading is not None:
            self._deadband.filter(reading)  # a fresh value after ``stale`` is always reported
            self._publish(reading, scanned=False)
        return names

    async def scan_once(self) -> Reading | None:
        """Scan every group once; return the last reading (tests and benchmarks)."""
        last = None
        for group in self._groups:
            last = await self._scan_group(group) or last
        return last

    async def _scan_group(self, group: _Group) -> Reading | None:
        """Read a group's requests once, hand the reading (if any) to the sink and return it.

        Raises :class:`TransportError` when the device cannot be reached.
        """
        async with self.write_lock:
            client = await self._connected_client()
            ts_ms = self._clock_ms()
            answers = []
            for i, request in enumerate(group.requests):
                if i and self._pause_s:
                    await asyncio.sleep(self._pause_s)
                answers.append(await self._read(client, request))
        self.stats.scans += 1
        if self._in_outage:
            self._in_outage = False
            if self._stale is not None:
                self._stale.restart(now_ms=_mono_ms())
        if self._stale is not None:
            self._stale.refreshed(group.names, now_ms=_mono_ms())
        reading = self._assembler.assemble(
            answers, ts_ms=ts_ms, seq=self._seq + 1, last_good=self._last_good
        )
        if reading is not None:
            if self._assembler.all_good:
                self._last_good.update(reading.values)
            else:
                self.stats.not_finite_values = self._assembler.not_finite_values
                quality = reading.quality
                for name, value in reading.values.items():
                    if quality[name] == "good":
                        self._last_good[name] = value
            reading = self._deadband.filter(reading)
        if reading is None:
            self.stats.skipped_scans += 1
            return None
        self._publish(reading)
        return reading

    def _publish(self, reading: Reading, *, scanned: bool = True) -> None:
        """Hand ``reading`` to the sink; ``scanned`` if it is the assembled scan (whose
        all-good flag then holds), not a ``comm_loss`` or ``stale`` report."""
        self._seq = reading.seq
        self.stats.readings += 1
        counts = self.stats.values
        if scanned and self._assembler.all_good and len(reading.quality) == len(reading.values):
            counts["good"] = counts.get("good", 0) + len(reading.values)
        else:
            for q, n in Counter(reading.quality.values()).items():
                counts[q] = counts.get(q, 0) + n
        self._sink(reading)

    def _outage(self, group: _Group) -> None:
        if self._in_outage:
            return
        self._in_outage = True
        names = [n for g in self._groups for n in g.names]
        reading = comm_loss_reading(
            self.device, self._last_good, names, ts_ms=self._clock_ms(), seq=self._seq + 1
        )
        if reading is not None:
            self._publish(reading, scanned=False)

    async def connected_client(self) -> Any:
        """The open connection, opened if needed (the command writer shares it)."""
        return await self._connected_client()

    async def _connected_client(self) -> Any:
        if self._client is not None and self._client.connected:
            return self._client
        self._close()
        client = _new_client(self.device)
        try:
            connected = await client.connect()
        except _TRANSPORT_ERRORS as exc:
            client.close()
            raise TransportError(f"connect failed: {exc}") from exc
        if not connected:
            client.close()
            raise TransportError("connect failed")
        self._client = client
        self.stats.connects += 1
        if self.stats.connects == 1 or not self.device.workarounds.close_after_poll:
            logger.info(
                "modbus connected machine_id=%s source=%s connects=%d",
                self.device.machine_id,
                self.device.source,
                self.stats.connects,
            )
        return client

    async def _read(self, client: Any, request: ReadRequest) -> BlockAnswer:
        table = request.table
        if table == "holding":
            read = client.read_holding_registers
        elif table == "input":
            read = client.read_input_registers
        elif table == "coil":
            read = client.read_coils
        else:
            read = client.read_discrete_inputs
        loop = asyncio.get_running_loop()
        started_s = loop.time()
        try:
            response = await read(
                request.address, count=request.count, device_id=self.device.device_id
            )
        except _TRANSPORT_ERRORS as exc:
            raise TransportError(f"{table} {request.address}+{request.count}: {exc}") from exc
        self.stats.requests += 1
        if self._observe_request_s is not None:
            self._observe_request_s(loop.time() - started_s)
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

    def close(self) -> None:
        """Close the connection (``run`` does it itself when it ends)."""
        self._close()

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


async def watch_staleness(pollers: Sequence[DevicePoller], stop: asyncio.Event) -> None:
    """Every half of the shortest interval (at least every 20 ms), publish the tags of
    ``pollers`` that went stale, until ``stop`` is set.

    One task serves many pollers: a check is a few microseconds of pure computation
    (no I/O, so a slow device cannot hold it up), while a task per poller waking 50 times
    a second costs more in scheduling than in checking. An unexpected error for one
    poller is logged and the others are still checked. The devices that went stale in
    one sweep are logged in one line (under overload that is most of them, 50 times a
    second), each with its tags for the first ten.
    """
    if not pollers:
        return
    period_s = max(min(p.shortest_interval_s for p in pollers) / 2, 0.02)
    single = len(pollers) == 1
    while not await sleep_unless_stopped(stop, period_s):
        went_stale: list[tuple[DevicePoller, list[str]]] = []
        for poller in pollers:
            try:
                names = poller.check_staleness(log=single)
            except Exception:
                logger.exception("staleness check failed machine_id=%s", poller.device.machine_id)
                continue
            if names and not single:
                went_stale.append((poller, names))
        if went_stale:
            _log_stale(went_stale)


def _log_stale(went_stale: Sequence[tuple[DevicePoller, list[str]]]) -> None:
    """One line for the devices that went stale in one sweep (the first ten in full)."""
    if len(went_stale) == 1:
        poller, names = went_stale[0]
        logger.warning(
            "tags stale machine_id=%s source=%s sensors=%s",
            poller.device.machine_id,
            poller.device.source,
            ",".join(names),
        )
        return
    shown = " ".join(f"{p.device.machine_id}:{','.join(n)}" for p, n in went_stale[:_STALE_SHOWN])
    more = len(went_stale) - _STALE_SHOWN
    logger.warning(
        "tags stale machines=%d sensors=%s%s",
        len(went_stale),
        shown,
        f" (+{more} more machines)" if more > 0 else "",
    )


def _mono_ms() -> int:
    return int(time.monotonic() * 1000)


def _groups(requests: tuple[ReadRequest, ...]) -> list[_Group]:
    by_interval: dict[float, list[ReadRequest]] = {}
    for request in requests:
        by_interval.setdefault(request.interval_s, []).append(request)
    return [
        _Group(
            interval_s=interval,
            requests=tuple(reqs),
            names=tuple(r.name for req in reqs for r in req.registers),
        )
        for interval, reqs in sorted(by_interval.items())
    ]


def _new_client(device: Device) -> Any:
    common: dict[str, Any] = {
        "name": f"machine-{device.machine_id}",
        "timeout": device.timeout_s,
        "retries": device.retries,
        "reconnect_delay": 0,
    }
    if device.protocol == "rtu":
        serial = AsyncModbusSerialClient(
            device.serial_port,
            framer=FramerType.RTU,
            baudrate=device.baudrate,
            parity=device.parity,
            stopbits=device.stopbits,
            bytesize=device.bytesize,
            **common,
        )
        register_fast_responses(serial)
        return serial
    framer = FramerType.SOCKET if device.protocol == "tcp" else FramerType.RTU
    client = AsyncModbusTcpClient(device.host, port=device.port, framer=framer, **common)
    register_fast_responses(client)
    return client


def next_deadline(previous_s: float, interval_s: float, *, now_s: float) -> tuple[float, int]:
    """The next scan time on the ``interval_s`` grid after ``previous_s`` that is not
    already past, and 1 if the scan was late (it ended after its next slot), else 0.

    Missed slots are skipped, not caught up, and a late scan counts once however many
    slots it missed."""
    deadline = previous_s + interval_s
    if deadline >= now_s:
        return deadline, 0
    missed = int((now_s - deadline) // interval_s) + 1
    return deadline + missed * interval_s, 1
