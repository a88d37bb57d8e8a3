"""Rate limits per credential and route class, with the ``limits`` library.

A moving window per (route class, credential) in the storage named by
``MILLSTREAM_RATE_LIMIT_STORAGE_URI`` (``memory://`` by default; ``redis://host:6379``
shares the windows between replicas). The policy is a pure function of method and path.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from api.security.errors import RateLimitedError

logger = logging.getLogger(__name__)

LOGIN_PATH = "/api/auth/login"
INGEST_PATH = "/api/readings"
_READ_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


class RouteClass(StrEnum):
    read = "read"
    write = "write"
    ingest = "ingest"
    login = "login"
    login_ip = "login_ip"


def route_class(method: str, path: str) -> RouteClass:
    """Which limit a request counts against."""
    if path == LOGIN_PATH:
        return RouteClass.login
    if method == "POST" and path == INGEST_PATH:
        return RouteClass.ingest
    if method in _READ_METHODS:
        return RouteClass.read
    return RouteClass.write


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        """The IETF draft's ``RateLimit-*`` headers, plus ``Retry-After`` when refused."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(self.remaining, 0)),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(self.reset_s, 1))
        return headers


def async_storage_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimiter:
    """``await limiter.hit(RouteClass.read, "key:abc")`` -> a :class:`RateDecision`.

    Build it inside a running event loop (the memory storage schedules its expiry task).
    If the storage fails (Redis down), requests are let through and the failure logged:
    rate limiting protects capacity, it must not take the API down with it.
    """

    def __init__(self, *, storage_uri: str, limits: dict[RouteClass, str]) -> None:
        self._storage = storage_from_string(async_storage_uri(storage_uri))
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._limits: dict[RouteClass, list[RateLimitItem]] = {
            cls: parse_many(text) for cls, text in limits.items()
        }

    async def hit(self, cls: RouteClass, identifier: str) -> RateDecision:
        items = self._limits.get(cls, [])
        tightest: RateDecision | None = None
        try:
            for item in items:
                allowed = await self._limiter.hit(item, cls.value, identifier)
                stats = await self._limiter.get_window_stats(item, cls.value, identifier)
                decision = RateDecision(
                    allowed=allowed,
                    limit=item.amount,
                    remaining=stats.remaining,
                    reset_s=max(0, math.ceil(stats.reset_time - time.time())),
                )
                if tightest is None or _tighter(decision, tightest):
                    tightest = decision
        except Exception as exc:  # the storage is an external service; fail open
            logger.warning("rate limit storage failed class=%s error=%s", cls, exc)
            return RateDecision(allowed=True, limit=0, remaining=0, reset_s=0)
        return tightest or RateDecision(allowed=True, limit=0, remaining=0, reset_s=0)

    async def enforce(self, cls: RouteClass, identifier: str) -> RateDecision:
        """Like :meth:`hit`, but a refusal raises :class:`RateLimitedError` (429)."""
        decision = await self.hit(cls, identifier)
        if not decision.allowed:
            raise RateLimitedError(
                f"rate limit: more than {decision.limit} {cls.value} requests in the window; "
                f"retry in {max(decision.reset_s, 1)} s",
                headers=decision.headers(),
            )
        return decision


def _tighter(a: RateDecision, b: RateDecision) -> bool:
    if a.allowed != b.allowed:
        return not a.allowed
    return a.remaining < b.remaining
