"""One ``/live`` connection: authenticate, then run its receive and send loops.

Close codes: 1008 (policy violation) for a missing or wrong credential, 1013 (try
again later) when the client is too slow to take its alarms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka.errors import KafkaError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from api.auth.roles import STATE_IDENTITY, Identity
from api.flat import machine_id_json
from api.live.actions import LiveActions
from api.live.client import LiveClient
from api.live.feed import LiveFeed, ReplayTooLongError
from api.live.frames import alarm_frame
from api.live.hub import LiveHub
from api.live.overview import overview_ack
from api.live.protocol import (
    Ack,
    Auth,
    Command,
    Ping,
    Subscribe,
    SubscribeAggregates,
    SubscribeAlarms,
    SubscribeOverview,
    Unsubscribe,
    UnsubscribeAggregates,
    UnsubscribeAlarms,
    UnsubscribeOverview,
    error_frame,
    format_cursor,
    parse_action,
    subscribed_frame,
    unsubscribed_frame,
)
from contracts.errors import ContractError
from contracts.timefmt import format_ts, now_ms

logger = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
_CLOSE_TIMEOUT_S = 5.0
_MAX_CLOSE_REASON_BYTES = 123
AUTH_REQUIRED = (
    'authentication required: add ?api_key=... to the URL or send {"action": "auth", '
    '"api_key": "..."} as the first message'
)

Authenticate = Callable[[str], Identity | None]


@dataclass(frozen=True, slots=True)
class SessionLimits:
    auth_timeout_s: float
    max_subscriptions: int
    max_connections_per_credential: int = 20
    max_message_bytes: int = 4_096
    recheck_s: float = 1.0
    replay_timeout_s: float = 10.0
    replay_max_events: int = 10_000


class _TooBig(Exception):
    pass


class LiveSession:
    def __init__(
        self,
        websocket: WebSocket,
        *,
        hub: LiveHub,
        authenticate: Authenticate,
        limits: SessionLimits,
        feed: LiveFeed | None = None,
        actions: LiveActions | None = None,
    ) -> None:
        self._ws = websocket
        self._hub = hub
        self._authenticate = authenticate
        self._limits = limits
        self._feed = feed
        self._actions = actions
        self._credential = ""
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        await self._ws.accept()
        try:
            identity = await self._identify()
        except WebSocketDisconnect:
            return
        except _TooBig:
            await self._close(MESSAGE_TOO_BIG, self._too_big())
            return
        if identity is None:
            return
        open_now = self._hub.connections_of(identity.key_id)
        if open_now >= self._limits.max_connections_per_credential:
            await self._close(
                TRY_AGAIN_LATER,
                f"too many connections: at most {self._limits.max_connections_per_credential} "
                "per credential",
            )
            return
        client = self._hub.register(identity)
        logger.info(
            "live client connected client_id=%d key=%s role=%s",
            client.client_id,
            identity.name,
            identity.role,
        )
        receiver = asyncio.create_task(self._receive_loop(client), name="live-receive")
        sender = asyncio.create_task(self._send_loop(client), name="live-send")
        watcher = asyncio.create_task(self._watch_credential(identity), name="live-recheck")
        closing: tuple[int, str] | None = None
        try:
            done, _ = await asyncio.wait(
                {receiver, sender, watcher}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if not task.cancelled() and isinstance(task.exception(), _TooBig):
                    closing = (MESSAGE_TOO_BIG, self._too_big())
            if watcher in done and not watcher.cancelled() and watcher.exception() is None:
                closing = (POLICY_VIOLATION, "credential revoked or changed")
        finally:
            for task in (receiver, sender, watcher, *self._tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._hub.unregister(client)
            if client.overflow is not None:
                await self._close(TRY_AGAIN_LATER, client.overflow)
            elif closing is not None:
                await self._close(*closing)
            logger.info(
                "live client disconnected client_id=%d key=%s dropped_readings=%d overflow=%s",
                client.client_id,
                identity.name,
                client.queue.dropped_total,
                client.overflow,
            )

    def _too_big(self) -> str:
        return f"message: longer than {self._limits.max_message_bytes} bytes"

    def _checked(self, data: str | bytes | None) -> str | bytes | None:
        """Refuse an over-long message before anything parses it: its length in bytes (a
        text message's characters take 1 to 4 bytes each)."""
        limit = self._limits.max_message_bytes
        if data is not None and len(data) > limit // 4 and _size(data) > limit:
            raise _TooBig
        return data

    async def _watch_credential(self, identity: Identity) -> None:
        """Return when the session's credential no longer names the same principal and
        role (a revoked or re-roled key)."""
        while True:
            await asyncio.sleep(self._limits.recheck_s)
            now = self._authenticate(self._credential)
            if now is None or now.key_id != identity.key_id or now.role != identity.role:
                logger.info("live credential no longer valid key=%s; closing", identity.name)
                return

    async def _identify(self) -> Identity | None:
        for param in ("api_key", "token"):
            key = self._ws.query_params.get(param)
            if key:
                self._credential = key
                identity = self._authenticate(key)
                if identity is None:
                    await self._close(POLICY_VIOLATION, f"{param}: not a valid credential")
                else:
                    setattr(self._ws.state, STATE_IDENTITY, identity)
                return identity
        try:
            async with asyncio.timeout(self._limits.auth_timeout_s):
                message = await self._ws.receive()
        except TimeoutError:
            await self._close(POLICY_VIOLATION, AUTH_REQUIRED)
            return None
        data = self._checked(_payload(message))
        if data is None:
            await self._close(POLICY_VIOLATION, AUTH_REQUIRED)
            return None
        try:
            action = parse_action(data)
        except ContractError:
            action = None
        if not isinstance(action, Auth):
            await self._close(POLICY_VIOLATION, AUTH_REQUIRED)
            return None
        self._credential = action.api_key
        identity = self._authenticate(action.api_key)
        if identity is None:
            await self._close(POLICY_VIOLATION, "api_key: not a valid credential")
            return None
        setattr(self._ws.state, STATE_IDENTITY, identity)
        await self._ws.send_text(
            orjson.dumps(
                {"type": "authenticated", "key_name": identity.name, "role": identity.role.value}
            ).decode()
        )
        return identity

    async def _receive_loop(self, client: LiveClient) -> None:
        while client.overflow is None:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = self._checked(_payload(message))
            if data is None:
                continue
            self._handle(client, data)

    def _handle(self, client: LiveClient, data: str | bytes) -> None:
        try:
            action = parse_action(data)
        except ContractError as exc:
            client.send(error_frame(str(exc)))
            return
        if isinstance(action, Subscribe):
            known = action.machine_id in client.subscriptions
            if not known and len(client.subscriptions) >= self._limits.max_subscriptions:
                client.send(
                    error_frame(
                        f"machine_id: at most {self._limits.max_subscriptions} subscriptions"
                    )
                )
                return
            self._hub.subscribe(client, action.machine_id, action.sensors)
            client.send(subscribed_frame(action))
        elif isinstance(action, Unsubscribe):
            self._hub.unsubscribe(client, action.machine_id)
            client.send(unsubscribed_frame(action))
        elif isinstance(action, Ping):
            client.send({"type": "pong", "ts": format_ts(now_ms())})
        elif isinstance(action, SubscribeAlarms):
            self._subscribe_alarms(client, action)
        elif isinstance(action, UnsubscribeAlarms):
            self._hub.unwatch_alarms(client)
            client.send({"type": "unsubscribed_alarms"})
        elif isinstance(action, SubscribeAggregates):
            self._hub.subscribe_aggregates(client, action.machine_id)
            client.send(
                {"type": "subscribed_aggregates", "machine_id": machine_id_json(action.machine_id)}
            )
        elif isinstance(action, UnsubscribeAggregates):
            self._hub.unsubscribe_aggregates(client, action.machine_id)
            machine = None if action.machine_id is None else machine_id_json(action.machine_id)
            client.send({"type": "unsubscribed_aggregates", "machine_id": machine})
        elif isinstance(action, SubscribeOverview):
            client.send(overview_ack(action.plant, action.interval_ms, action.sensors))
            self._hub.overviews.join(client, action.plant, action.interval_ms, action.sensors)
        elif isinstance(action, UnsubscribeOverview):
            self._hub.overviews.leave(client)
            client.send({"type": "unsubscribed_overview"})
        elif isinstance(action, Ack | Command):
            self._spawn(self._act(client, action))
        else:
            client.send(error_frame("action: already authenticated"))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, client: LiveClient, action: Ack | Command) -> None:
        if self._actions is None:
            client.send(error_frame("action: not available on this server"))
            return
        if isinstance(action, Ack):
            frame = await self._actions.ack(client.identity, action)
        else:
            frame = await self._actions.command(client.identity, action)
        client.send(frame)

    def _subscribe_alarms(self, client: LiveClient, action: SubscribeAlarms) -> None:
        """Watch the plant's alarms from now on; with a cursor, first send what was missed
        since it (live events meanwhile wait, so none comes twice or out of order)."""
        replay = action.cursor is not None and self._feed is not None
        if replay and client.held_alarms is not None:
            client.send(error_frame("cursor: a replay is already running"))
            return
        until = dict(self._feed.alarm_positions) if self._feed is not None else {}
        if replay:
            client.held_alarms = []
        self._hub.watch_alarms(client, action.plant)
        client.send(
            {
                "type": "subscribed_alarms",
                "plant": action.plant,
                "cursor": format_cursor(until) if until else None,
            }
        )
        if replay:
            if action.cursor is None:
                raise RuntimeError("expected action.cursor is not None")
            self._spawn(self._replay(client, action, action.cursor, until))

    async def _replay(
        self,
        client: LiveClient,
        action: SubscribeAlarms,
        since: dict[int, int],
        until: dict[int, int],
    ) -> None:
        if self._feed is None:
            raise RuntimeError("expected self._feed is not None")
        sent = 0
        try:
            events = await self._feed.replay_alarms(
                since,
                until,
                timeout_s=self._limits.replay_timeout_s,
                max_events=self._limits.replay_max_events,
            )
        except (ReplayTooLongError, TimeoutError, KafkaError) as exc:
            detail = str(exc) if isinstance(exc, ReplayTooLongError) else "cursor: replay failed"
            logger.warning("live replay failed client_id=%d error=%r", client.client_id, exc)
            client.send(error_frame(detail))
        else:
            for event, cursor in events:
                if action.plant is None or event.plant == action.plant:
                    if not client.push_essential(orjson.dumps(alarm_frame(event, cursor))):
                        return
                    sent += 1
        finally:
            if client.overflow is None:
                client.release_alarms()
        client.send({"type": "replayed", "count": sent})

    async def _send_loop(self, client: LiveClient) -> None:
        while True:
            await client.wake.wait()
            client.wake.clear()
            while client.overflow is None and (frame := client.queue.pop()) is not None:
                await self._ws.send_text(frame.decode())
            if client.overflow is not None:
                return

    async def _close(self, code: int, reason: str) -> None:
        if self._ws.application_state is WebSocketState.DISCONNECTED:
            return
        if self._ws.client_state is WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, TimeoutError, OSError):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self._ws.close(code=code, reason=_close_reason(reason))


def _close_reason(reason: str) -> str:
    """WebSocket close reasons are limited to 123 bytes of UTF-8."""
    data = reason.encode()
    if len(data) <= _MAX_CLOSE_REASON_BYTES:
        return reason
    return data[: _MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."


def _size(data: str | bytes) -> int:
    return len(data.encode()) if isinstance(data, str) else len(data)


def _payload(message: object) -> str | bytes | None:
    if not isinstance(message, dict) or message.get("type") != "websocket.receive":
        return None
    text = message.get("text")
    if isinstance(text, str):
        return text
    data = message.get("bytes")
    return data if isinstance(data, bytes) else None
