"""``/live``: the WebSocket of the seed's dashboard client, on the REST port."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from api.live.actions import LiveActions
from api.live.session import LiveSession, SessionLimits
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
    session = LiveSession(
        websocket,
        hub=services.hub,
        authenticate=security.auth.authenticate,
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
    await session.run()
