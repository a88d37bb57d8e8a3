"""A path that differs from a route only by a trailing slash is answered with a redirect.

``/api/machines/`` -> ``301`` to ``/api/machines`` (``308`` for methods with a body, so a
client resends it unchanged). The ``Location`` is relative: the path and query of the
request, never a host taken from the ``Host`` header.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

_BODYLESS = frozenset(("GET", "HEAD"))


def slash_redirect(routes: list[BaseRoute], fallback: ASGIApp) -> ASGIApp:
    """An ASGI app for the router's ``default``: redirect if the other form of the path
    matches one of ``routes``, else pass to ``fallback`` (the usual 404)."""

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        location = _other_form(scope, routes) if scope["type"] == "http" else None
        if location is None:
            await fallback(scope, receive, send)
            return
        status = 301 if scope.get("method") in _BODYLESS else 308
        await RedirectResponse(location, status_code=status)(scope, receive, send)

    return default


def _other_form(scope: Scope, routes: list[BaseRoute]) -> str | None:
    path: str = scope["path"]
    if path == "/" or path.startswith("//"):
        return None
    other = path.rstrip("/") if path.endswith("/") else path + "/"
    if not other.startswith("/") or other.startswith("//"):
        return None
    other_scope = {**scope, "path": other}
    if not any(route.matches(other_scope)[0] is not Match.NONE for route in routes):
        return None
    query = scope.get("query_string", b"")
    return other + ("?" + query.decode("latin-1") if query else "")
