"""``millstream tail``: follow machines' readings and alarms over ``/live``.

It subscribes to each machine's readings (``subscribe``) and to the alarm stream
(``subscribe_alarms``: one plant, or all). Every alarm frame carries a cursor; after a lost
connection the command reconnects with backoff and asks for the alarms since the last
cursor it saw, so no alarm is lost across an API restart, and an event seen twice
(``alarm_id``, ``seq``) is shown once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import websockets
from rich.console import Console
from rich.text import Text
from websockets.asyncio.client import ClientConnection

from cli.connection import Api
from cli.errors import CliError
from cli.render import aggregate_text, alarm_text, reading_text, status_text

logger = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
_SEEN_MAX = 10_000
# A connection that lived this long resets the backoff to its start.
_HEALTHY_S = 10.0


@dataclass(frozen=True, slots=True)
class TailOptions:
    machines: tuple[str, ...] = ()
    sensors: tuple[str, ...] = ()
    plants: tuple[str, ...] = ()
    alarms: bool = True
    all_alarms: bool = False
    aggregates: bool = False
    plant_readings: bool = True  # with plants: their machines' readings (an overview)
    interval_ms: int = 1000
    json: bool = False
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_reconnects: int | None = None


@dataclass
class TailState:
    """What survives a reconnect: the alarm cursor and the events already shown."""

    cursor: str | None = None
    seen: OrderedDict[tuple[str, int], None] = field(default_factory=OrderedDict)
    units: dict[str, dict[str, str]] = field(default_factory=dict)

    def first_time(self, frame: dict[str, Any]) -> bool:
        """Whether this alarm event is new (a replay may repeat the last one seen)."""
        key = (str(frame.get("alarm_id")), int(frame.get("seq") or 0))
        if key[1] and key in self.seen:
            return False
        self.seen[key] = None
        if len(self.seen) > _SEEN_MAX:
            self.seen.popitem(last=False)
        return True


def subscribe_messages(options: TailOptions, cursor: str | None) -> list[dict[str, Any]]:
    """The messages that set up (or restore) the client's subscriptions."""
    out: list[dict[str, Any]] = []
    for machine in options.machines:
        message: dict[str, Any] = {"action": "subscribe", "machine_id": _json_id(machine)}
        if options.sensors:
            message["sensors"] = list(options.sensors)
        out.append(message)
        if options.aggregates:
            out.append({"action": "subscribe_aggregates", "machine_id": _json_id(machine)})
    if options.plants and options.plant_readings:
        overview: dict[str, Any] = {
            "action": "subscribe_overview",
            "interval_ms": options.interval_ms,
        }
        if len(options.plants) == 1:
            overview["plant"] = options.plants[0]
        if options.sensors:
            overview["sensors"] = list(options.sensors)
        out.append(overview)
    if options.alarms:
        alarms: dict[str, Any] = {"action": "subscribe_alarms"}
        if len(options.plants) == 1 and not options.all_alarms:
            alarms["plant"] = options.plants[0]
        if cursor:
            alarms["cursor"] = cursor
        out.append(alarms)
    return out


def wanted_alarm(options: TailOptions, frame: dict[str, Any]) -> bool:
    """Alarms of the named plants, else of the named machines, else all."""
    if options.all_alarms:
        return True
    if options.plants:
        return frame.get("plant") in options.plants
    if options.machines:
        return str(frame.get("machine_id")) in options.machines
    return True


def overview_readings(options: TailOptions, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The readings of an overview frame, of the plants asked for, as reading frames."""
    machines = frame.get("machines")
    return [
        {"type": "reading", **m}
        for m in (machines if isinstance(machines, list) else [])
        if isinstance(m, dict) and (not options.plants or m.get("plant") in options.plants)
    ]


def _json_id(machine: str) -> int | str:
    return int(machine) if machine.isdigit() and len(machine) < 16 else machine


def next_backoff(current: float, options: TailOptions) -> float:
    return min(options.max_backoff_s, current * 2)


class Tail:
    def __init__(
        self,
        api: Api,
        options: TailOptions,
        *,
        out: Console,
        err: Console,
        write_line: Callable[[str], None] | None = None,
    ) -> None:
        self._api = api
        self._options = options
        self._out = out
        self._err = err
        self._write_line = write_line or (lambda text: print(text, flush=True))
        self.state = TailState()

    async def run(self) -> None:
        for machine in self._options.machines:
            self.state.units[machine] = await asyncio.to_thread(fetch_units, self._api, machine)
        backoff = self._options.backoff_s
        reconnects = 0
        while True:
            started = time.monotonic()
            try:
                await self._session()
            except websockets.ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == POLICY_VIOLATION:
                    self._refused(exc.rcvd.reason)
                reason = exc.rcvd.reason if exc.rcvd is not None else "no close frame"
                self._warn("connection closed", reason)
            except websockets.InvalidStatus as exc:
                self._warn("connection refused", f"HTTP {exc.response.status_code}")
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                self._warn(f"cannot connect to {self._api.ws_url}", str(exc))
            if time.monotonic() - started > _HEALTHY_S:
                backoff = self._options.backoff_s
            reconnects += 1
            limit = self._options.max_reconnects
            if limit is not None and reconnects > limit:
                raise CliError(f"{self._api.ws_url}: gave up after {reconnects - 1} reconnects")
            wait = backoff * (0.5 + random.random() / 2)
            self._err.print(f"reconnecting in {wait:.1f}s", style="dim")
            await asyncio.sleep(wait)
            backoff = next_backoff(backoff, self._options)

    def _warn(self, what: str, why: str) -> None:
        self._err.print(Text.assemble((what, "yellow"), f" ({why})"))

    def _refused(self, reason: str) -> None:
        """A credential the server refuses: log in again with the password, else stop."""
        if not self._api.credential.can_refresh:
            raise CliError(f"the API refused the credential ({reason}); check --api-key/--token")
        self._api.login()

    async def _session(self) -> None:
        async with websockets.connect(
            self._api.live_url(), open_timeout=10, max_size=2**22, compression=None
        ) as ws:
            for message in subscribe_messages(self._options, self.state.cursor):
                await ws.send(orjson.dumps(message).decode())
            resumed = " (resuming alarms)" if self.state.cursor else ""
            self._err.print(f"connected to {self._api.ws_url}/live{resumed}", style="dim")
            await self._receive(ws)

    async def _receive(self, ws: ClientConnection) -> None:
        async for raw in ws:
            frame = orjson.loads(raw)
            if not isinstance(frame, dict):
                continue
            self._show(frame, raw if isinstance(raw, str) else raw.decode())

    def _show(self, frame: dict[str, Any], raw: str) -> None:
        kind = frame.get("type")
        if kind == "subscribed_alarms" and frame.get("cursor") and not self.state.cursor:
            self.state.cursor = str(frame["cursor"])
        if kind == "alarm":
            if frame.get("cursor"):
                self.state.cursor = str(frame["cursor"])
            if not self.state.first_time(frame) or not wanted_alarm(self._options, frame):
                return
        if self._options.json:
            if kind != "pong":
                self._write_line(raw)
            return
        machine = str(frame.get("machine_id"))
        if kind == "reading":
            self._out.print(reading_text(frame, self._units(machine)))
        elif kind == "overview":
            for entry in overview_readings(self._options, frame):
                self._out.print(reading_text(entry, self._units(str(entry.get("machine_id")))))
        elif kind == "alarm":
            self._out.print(alarm_text(frame, self._units(machine)))
        elif kind == "aggregate":
            self._out.print(aggregate_text(frame))
        elif (text := status_text(frame)) is not None:
            self._err.print(text)
        elif kind and kind.startswith("subscribed"):
            self._err.print(f"{kind} {_describe(frame)}", style="dim")

    def _units(self, machine: str) -> dict[str, str]:
        """The units the registry gave for a tailed machine (names give the rest)."""
        return self.state.units.get(machine, {})


def _describe(frame: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in frame.items() if k != "type" and v not in (None, []))


def fetch_units(api: Api, machine: str) -> dict[str, str]:
    """``{"temperature_c": "°C"}`` from ``GET /api/machines/{id}``; ``{}`` when the machine is
    not registered or the answer has no units (names then give them)."""
    with contextlib.suppress(httpx.HTTPError, ValueError):
        answer = httpx.get(f"{api.url}/api/machines/{machine}", headers=api.headers(), timeout=5)
        if answer.status_code == 200:
            return units_of(answer.json())
    return {}


def units_of(machine: Any) -> dict[str, str]:
    """Units from a machine object: a list of ``{"name", "unit"}`` under ``sensors`` or
    ``sensor_info``, or a ``units`` object of name to unit."""
    if not isinstance(machine, dict):
        return {}
    units = machine.get("units")
    if isinstance(units, dict):
        return {str(k): str(v) for k, v in units.items() if isinstance(v, str) and v}
    for key in ("sensor_info", "sensors"):
        entries = machine.get(key)
        if isinstance(entries, list):
            return {
                str(e["name"]): str(e["unit"])
                for e in entries
                if isinstance(e, dict) and e.get("name") and e.get("unit")
            }
    return {}
