"""One ``/live`` connection: authenticate, then run its receive and send loops.

Close codes: 1008 (policy violation) for a missing or wrong credential, 1013 (try
again later) when the client is too slow to take its alarms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from api.auth.roles import Identity
from api.live.hub import LiveClient, LiveHub
from api.live.protocol import (
    Auth,
    Ping,
    Subscribe,
    Unsubscribe,
    error_frame,
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
    ) -> None:
        self._ws = websocket
        self._hub = hub
        self._authenticate = authenticate
        self._limits = limits
        self._credential = ""

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
            for task in (receiver, sender, watcher):
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
        """Refuse an over-long message before anything parses it."""
        if data is not None and len(data) > self._limits.max_message_bytes:
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
        key = self._ws.query_params.get("api_key")
        if key:
            self._credential = key
            identity = self._authenticate(key)
            if identity is None:
                await self._close(POLICY_VIOLATION, "api_key: not a valid API key")
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
            await self._close(POLICY_VIOLATION, "api_key: not a valid API key")
            return None
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
        else:
            client.send(error_frame("action: already authenticated"))

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


def _payload(message: object) -> str | bytes | None:
    if not isinstance(message, dict) or message.get("type") != "websocket.receive":
        return None
    text = message.get("text")
    if isinstance(text, str):
        return text
    data = message.get("bytes")
    return data if isinstance(data, bytes) else None
