"""One pure-ASGI middleware: an audit record and metrics for every request.

It only wraps ``send`` to see the status (and to add the ``RateLimit-*`` headers the
credential check left in the request state); bodies stream through untouched, so
WebSocket and large responses pay one timer and one queue put.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth.authenticator import Authenticator
from api.auth.roles import STATE_IDENTITY, Identity
from api.security.metrics import ApiMetrics
from api.security.ratelimit import STATE_RATE, RateDecision
from contracts.audit import AuditRecord

UNMATCHED_ROUTE = "unmatched"
# Methods named as they are in metrics and audit tags; any other is ``OTHER``, so that made-up
# methods from anyone on the network cannot grow the label sets (and InfluxDB's series).
KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WS"))
OTHER_METHOD = "OTHER"
QUERY_CREDENTIALS = ("api_key", "token")


def route_template(scope: Scope) -> str:
    """``/api/machines/{machine_id}``, not the concrete path (bounded label values)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def _query_identity(scope: Scope, auth: Authenticator) -> Identity | None:
    """Who opened a WebSocket with ``?api_key=`` or ``?token=``, for the audit record,
    when the socket's handler did not record the identity in ``websocket.state``."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    for name in QUERY_CREDENTIALS:
        values = query.get(name)
        if values:
            return auth.authenticate(values[0])
    return None


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started_s = time.perf_counter()
        ts_ms = time.time_ns() // 1_000_000
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500 if scope["type"] == "http" else 1000

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                decision = state.get(STATE_RATE)
                if isinstance(decision, RateDecision) and decision.limit:
                    headers = list(message.get("headers", []))
                    existing = {name.lower() for name, _ in headers}
                    for name, value in decision.headers().items():
                        if name.lower().encode() not in existing:
                            headers.append((name.lower().encode(), value.encode()))
                    message = {**message, "headers": headers}
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status != 101:
                status = 403
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._record(scope, state, status=status, started_s=started_s, ts_ms=ts_ms)

    def _record(
        self, scope: Scope, state: dict[str, Any], *, status: int, started_s: float, ts_ms: int
    ) -> None:
        duration_s = time.perf_counter() - started_s
        websocket = scope["type"] == "websocket"
        method = "WS" if websocket else str(scope.get("method", ""))
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        app = scope.get("app")
        app_state = getattr(app, "state", None)
        metrics: ApiMetrics | None = getattr(app_state, "metrics", None)
        if metrics is not None:
            metrics.observe_request(
                route=route_template(scope),
                method=method,
                status=status,
                duration_s=None if websocket else duration_s,
            )
        security = getattr(app_state, "security", None)
        if security is None:
            return
        identity = state.get(STATE_IDENTITY)
        if identity is None and websocket:
            identity = _query_identity(scope, security.auth)
        client = scope.get("client")
        security.audit.offer(
            AuditRecord(
                request_id=secrets.token_hex(8),
                ts_ms=ts_ms,
                principal=identity.principal if isinstance(identity, Identity) else "anonymous",
                role=identity.role.value if isinstance(identity, Identity) else "",
                method=method,
                path=str(scope.get("path", "")),
                status=status,
                latency_ms=round(duration_s * 1000, 3),
                client=str(client[0]) if client else "",
            )
        )
