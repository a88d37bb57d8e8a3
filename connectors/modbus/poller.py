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

A watchdog beside the loop finds the tags whose group's scan is late by more than one
interval (rule in :mod:`connectors.modbus.staleness`); the connector runs one watchdog for
all its pollers (:func:`connectors.modbus.watchdog.watch_staleness`). A scan never yields
more than one reading:

- while another group's scan or a command write holds the device's connection, the
  starved tags' last good values are published at once with quality ``stale``;
- if the device has been asked and has not answered :data:`LATE_GRACE_MS` (or one
  interval, if longer) after the tags went stale and after the request it has not
  answered was sent, their last good values are published ``stale`` then, as a silent
  device's are;
- otherwise the poller itself is late (the connector is behind): the late scan reads
  fresh values, which are ``good`` and end the episode. The lateness is the connector's,
  not the data's: it is counted (``stale_episodes``, overruns), never stamped on a value,
  so limit alarms still judge every value read.

Tags are grouped by poll interval; each group is scanned on its own grid
(:mod:`connectors.modbus.schedule`). A scan that ends after its next slot counts one
overrun (a late scan), and the missed slots are skipped rather than read in a burst.
The connection is :mod:`connectors.modbus.connection`, the reads of one scan
:mod:`connectors.modbus.block_reads`. Each device has its own poller and connection, so
one failing device never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from connectors.config.devices import Device
from connectors.lifecycle import sleep_unless_stopped
from connectors.modbus.block_reads import BlockReader
from connectors.modbus.connection import DeviceConnection, TransportError
from connectors.modbus.deadband import ReportByException
from connectors.modbus.poll_stats import PollStats
from connectors.modbus.scan import (
    ReadRequest,
    ScanAssembler,
    comm_loss_reading,
    last_good_reading,
    plan_device,
)
from connectors.modbus.schedule import ScanGroup, next_deadline, scan_groups
from connectors.modbus.staleness import StaleTracker
from connectors.modbus.watchdog import log_stale_tags, mono_ms, watch_staleness
from contracts.readings import Reading
from contracts.timefmt import now_ms
from kafka_edge.retry import RetryPolicy

logger = logging.getLogger(__name__)

# How long a late scan may still carry the staleness of its tags (at least one interval).
LATE_GRACE_MS = 100

ReadingSink = Callable[[Reading], None]


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
        self._requests = plan_device(device)
        self._groups = scan_groups(self._requests)
        self._assembler = ScanAssembler(device)
        self._deadband = ReportByException(device.registers)
        self._pause_s = device.workarounds.pause_between_requests_ms / 1000
        self._connection = DeviceConnection(device, self.stats)
        self._reader = BlockReader(device, self.stats, observe_request_s=observe_request_s)
        self._seq = initial_seq
        self._last_good: dict[str, float] = {}
        self._in_outage = False
        self._stale: StaleTracker | None = None
        # The group whose scan holds the connection now, and the tags gone stale whose
        # own late scan is to carry it (name -> monotonic ms when they went stale).
        self._scanning: ScanGroup | None = None
        self._late: dict[str, int] = {}
        # When the request now waiting for the device's answer was sent (monotonic ms).
        self._asked_ms = 0
        self._group_of = {name: g for g in self._groups for name in g.names}
        self.write_lock = asyncio.Lock()
        # No staleness check can find anything before this (monotonic ms); the watchdog
        # skips the poller until then (:meth:`_note_stale_due`).
        self.stale_due_ms: float = 0

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
            {n: g.interval_s for g in self._groups for n in g.names}, start_ms=mono_ms()
        )
        self.stale_due_ms = self._stale.next_ms
        watching = asyncio.create_task(watch_staleness([self], stop)) if watchdog else None
        try:
            groups = self._groups
            while not stop.is_set():
                group = groups[0] if len(groups) == 1 else min(groups, key=lambda g: g.due_s)
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
                        self._connection.close()
                    continue
                self._connection.close()
                await sleep_unless_stopped(stop, delay_s)
                for other in self._groups:
                    other.due_s = loop.time()
        finally:
            if watching is not None:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            self._connection.close()

    @property
    def shortest_interval_s(self) -> float:
        """The shortest poll interval of the device's groups."""
        return min(g.interval_s for g in self._groups)

    def check_staleness(self, *, log: bool = True, now_ms: int | None = None) -> list[str]:
        """Report the tags that went stale since the last check and return them; nothing
        during a communication loss. Starved tags, and late ones whose scan has not come
        within the grace, are published at once (last good values, ``stale``); the other
        late ones wait for their own scan, whose fresh values end the episode.

        ``log=False``: the caller logs (:func:`watch_staleness` logs one line per sweep).
        ``now_ms``: the monotonic clock (:func:`mono_ms`) when the caller read it already.
        """
        if self._stale is None or self._in_outage:
            return []
        now = mono_ms() if now_ms is None else now_ms
        names = self._stale.newly_stale(now_ms=now)
        if not names and not self._late:
            self.stale_due_ms = self._stale.next_ms
            return names  # the common case (the watchdog skips it until ``stale_due_ms``)
        publish = [n for n in names if self._starved(n)] if self.write_lock.locked() else []
        for name in names:
            if name not in publish:
                self._late[name] = now
        if self._late:
            publish += self._late_too_long(now)
        if names:
            self.stats.stale_episodes += 1
            if log:
                log_stale_tags(self.device, names)
        self._note_stale_due(self._stale)
        if publish:
            reading = last_good_reading(
                self.device,
                self._last_good,
                publish,
                "stale",
                ts_ms=self._clock_ms(),
                seq=self._seq + 1,
            )
            if reading is not None:
                self._deadband.filter(reading)  # a fresh value after ``stale`` is reported
                self._publish(reading, scanned=False)
        return names

    def _note_stale_due(self, stale: StaleTracker) -> None:
        """When the watchdog is next to check: when a tag can next go stale or, while late
        tags wait on their scan and the connection is held, when the last request sent
        outlives the grace. No late tag is published before (:meth:`_late_too_long`), nor
        while nothing holds the connection (:meth:`will_hold_connection` comes first)."""
        due = stale.next_ms
        if self._late and self.write_lock.locked():
            due = min(due, self._asked_ms + LATE_GRACE_MS)
        self.stale_due_ms = due

    def will_hold_connection(self) -> None:
        """A scan or a command write is about to take ``write_lock``: late tags may be due
        for publishing from then on, so the watchdog's next check comes no later than the
        grace after the last request sent."""
        if self._late:
            self.stale_due_ms = min(self.stale_due_ms, self._asked_ms + LATE_GRACE_MS)

    def _starved(self, name: str) -> bool:
        """Another group's scan, or a command write, holds the connection."""
        return self.write_lock.locked() and self._scanning is not self._group_of[name]

    def _late_too_long(self, now: int) -> list[str]:
        """The late tags whose scan has not come within the grace while the connection is
        held and the device has not answered the request in flight within the grace either;
        forgotten here. While nothing holds it the poller has not got to the scan yet, and
        while each request is answered in time the scan is merely slow (the connector is
        behind, or pauses between requests): the scan's fresh values end the episode."""
        asked = self._asked_ms
        if not self.write_lock.locked() or now - asked <= LATE_GRACE_MS:
            return []  # no request in flight, or none unanswered for longer than any grace
        out = []
        for name, since in list(self._late.items()):
            if now - max(since, asked) > max(LATE_GRACE_MS, self._group_of[name].interval_s * 1000):
                out.append(name)
                del self._late[name]
        return out

    async def scan_once(self) -> Reading | None:
        """Scan every group once; return the last reading (tests and benchmarks)."""
        last = None
        for group in self._groups:
            last = await self._scan_group(group) or last
        return last

    async def _scan_group(self, group: ScanGroup) -> Reading | None:
        """Read a group's requests once, hand the reading (if any) to the sink and return it.

        Raises :class:`TransportError` when the device cannot be reached.
        """
        self.will_hold_connection()
        async with self.write_lock:
            self._scanning = group
            try:
                client = await self._connection.client()
                ts_ms = self._clock_ms()
                answers = []
                for i, request in enumerate(group.requests):
                    if i and self._pause_s:
                        await asyncio.sleep(self._pause_s)
                    self._asked_ms = mono_ms()
                    answers.append(await self._reader.read(client, request))
            finally:
                self._scanning = None
        self.stats.scans += 1
        stale = self._stale
        if stale is not None:
            now = mono_ms()
            if self._in_outage:
                stale.restart(now_ms=now)
            stale.refreshed(group.names, now_ms=now, interval_s=group.interval_s)
        self._in_outage = False
        reading = self._assembler.assemble(
            answers, ts_ms=ts_ms, seq=self._seq + 1, last_good=self._last_good
        )
        self._end_lateness(group)
        if stale is not None:
            self._note_stale_due(stale)
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

    def _end_lateness(self, group: ScanGroup) -> None:
        """The scan of ``group`` came: its tags are no longer waiting on it."""
        if not self._late:
            return
        for name in group.names:
            self._late.pop(name, None)

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

    def _outage(self, group: ScanGroup) -> None:
        if self._in_outage:
            return
        self._in_outage = True
        self._late.clear()  # the outage is reported as comm_loss instead
        names = [n for g in self._groups for n in g.names]
        reading = comm_loss_reading(
            self.device, self._last_good, names, ts_ms=self._clock_ms(), seq=self._seq + 1
        )
        if reading is not None:
            self._publish(reading, scanned=False)

    async def connected_client(self) -> Any:
        """The open connection, opened if needed (the command writer shares it)."""
        return await self._connection.client()

    def close(self) -> None:
        """Close the connection (``run`` does it itself when it ends)."""
        self._connection.close()
