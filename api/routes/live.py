"""``/live``: the WebSocket of the seed's dashboard client, on the REST port."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from api.auth.roles import Identity
from api.live.actions import LiveActions
from api.live.session import POLICY_VIOLATION, LiveSession, SessionLimits
from api.security.ratelimit import RouteClass
from api.security.runtime import SecurityServices
from api.services import Services

router = APIRouter(tags=["live"])


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    """Credential (an API key or a login token) in ``?api_key=...`` or ``?token=...``, or
    an ``{"action": "auth"}`` first message."""
    services: Services = websocket.app.state.services
    security: SecurityServices = websocket.app.state.security
    settings = services.settings
    limiter = security.limiter
    client = websocket.client.host if websocket.client else "unknown"
    if limiter is not None:
        decision = await limiter.peek(RouteClass.auth_failures, client)
        if not decision.allowed:
            # Refused before the handshake completes (HTTP 403), as REST answers 429.
            await websocket.close(
                code=POLICY_VIOLATION,
                reason=f"rate limit: too many auth failures; retry in {max(decision.reset_s, 1)} s",
            )
            return
    failures = 0

    def authenticate(credential: str) -> Identity | None:
        nonlocal failures
        identity = security.auth.authenticate(credential)
        if identity is None:
            failures += 1
        return identity

    session = LiveSession(
        websocket,
        hub=services.hub,
        authenticate=authenticate,
        limits=SessionLimits(
            auth_timeout_s=settings.live_auth_timeout_s,
            max_subscriptions=settings.live_max_subscriptions,
            max_connections_per_credential=settings.live_max_connections_per_credential,
            max_message_bytes=settings.live_max_message_bytes,
            recheck_s=settings.live_recheck_s,
        ),
        feed=services.feed,
        actions=LiveActions(alarms=services.alarms, commands=services.commands),
    )
    try:
        await session.run()
    finally:
        if limiter is not None:
            for _ in range(failures):
                await limiter.hit(RouteClass.auth_failures, client)
