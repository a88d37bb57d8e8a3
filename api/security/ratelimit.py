"""Rate limits per credential and route class.

Limits are written in the ``limits`` library's notation ("200/second", several joined by
``;``) and counted per (route class, credential):

- ``memory://`` (the default): a token bucket per process (:mod:`api.security.buckets`);
- any other ``MILLSTREAM_API_RATE_LIMIT_STORAGE_URI`` (``redis://host:6379``): a moving window
  in that storage through ``limits``' asyncio API, shared by every replica.

``limits``' own memory storage starts an expiry thread (or a thread hop) on each hit, which
cost about a fifth of a cheap GET's throughput (see ``bench/scenarios/api_security.py``);
the token bucket is a dict lookup and a few float operations. The policy is a pure function
of method and path.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from api.security.buckets import BucketResult, TokenBuckets
from api.security.errors import RateLimitedError

logger = logging.getLogger(__name__)

LOGIN_PATH = "/api/auth/login"
# The key under which the credential check leaves the RateDecision in request.state.
STATE_RATE = "rate_decision"
INGEST_PATH = "/api/readings"
_READ_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


class RouteClass(StrEnum):
    read = "read"
    write = "write"
    ingest = "ingest"
    # Failed logins per client address and username: slows a guesser, not the owner elsewhere.
    login = "login"
    # Every login attempt per client address.
    login_ip = "login_ip"
    # Failed logins per username from all addresses: the cap on guessing from many addresses.
    login_user = "login_user"
    # Failed authentications (a wrong key or token) per client address.
    auth_failures = "auth_failures"


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


class _SharedWindows:
    """Moving windows in a storage every replica reaches (``limits``' asyncio API)."""

    def __init__(self, storage_uri: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(async_storage_uri(storage_uri)))

    async def hit(self, item: RateLimitItem, *identifiers: str) -> RateDecision:
        allowed = await self._limiter.hit(item, *identifiers)
        return await self._decision(allowed, item, identifiers)

    async def peek(self, item: RateLimitItem, *identifiers: str) -> RateDecision:
        allowed = await self._limiter.test(item, *identifiers)
        return await self._decision(allowed, item, identifiers)

    async def _decision(
        self, allowed: bool, item: RateLimitItem, identifiers: tuple[str, ...]
    ) -> RateDecision:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return RateDecision(
            allowed=allowed,
            limit=item.amount,
            remaining=stats.remaining,
            reset_s=max(0, math.ceil(stats.reset_time - time.time())),
        )


class _LocalBuckets:
    """Token buckets in this process."""

    def __init__(self) -> None:
        self._buckets = TokenBuckets()

    async def hit(self, item: RateLimitItem, *identifiers: str) -> RateDecision:
        return self._decision(self._buckets.take, item, identifiers)

    async def peek(self, item: RateLimitItem, *identifiers: str) -> RateDecision:
        return self._decision(self._buckets.peek, item, identifiers)

    @staticmethod
    def _decision(
        op: Callable[..., BucketResult], item: RateLimitItem, identifiers: tuple[str, ...]
    ) -> RateDecision:
        result = op(
            (item.key_for(*identifiers),),
            capacity=item.amount,
            period_s=float(item.get_expiry()),
            now_s=time.monotonic(),
        )
        return RateDecision(
            allowed=result.allowed,
            limit=item.amount,
            remaining=result.remaining,
            reset_s=math.ceil(result.reset_s),
        )


def is_memory_uri(storage_uri: str) -> bool:
    return storage_uri.removeprefix("async+").startswith("memory://")


class RateLimiter:
    """``await limiter.hit(RouteClass.read, "key:abc")`` -> a :class:`RateDecision`.

    If a shared storage fails (Redis down), requests are let through and the failure logged:
    rate limiting protects capacity, it must not take the API down with it.
    """

    def __init__(self, *, storage_uri: str, limits: dict[RouteClass, str]) -> None:
        self._windows: _LocalBuckets | _SharedWindows = (
            _LocalBuckets() if is_memory_uri(storage_uri) else _SharedWindows(storage_uri)
        )
        self._limits: dict[RouteClass, list[RateLimitItem]] = {
            cls: parse_many(text) for cls, text in limits.items()
        }

    async def hit(self, cls: RouteClass, identifier: str) -> RateDecision:
        return await self._count(cls, identifier, take=True)

    async def peek(self, cls: RouteClass, identifier: str) -> RateDecision:
        """Whether :meth:`hit` would pass now, counting nothing."""
        return await self._count(cls, identifier, take=False)

    async def _count(self, cls: RouteClass, identifier: str, *, take: bool) -> RateDecision:
        items = self._limits.get(cls, [])
        tightest: RateDecision | None = None
        windows = self._windows
        try:
            for item in items:
                if take:
                    decision = await windows.hit(item, cls.value, identifier)
                else:
                    decision = await windows.peek(item, cls.value, identifier)
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

    async def refuse_if_exhausted(
        self, cls: RouteClass, identifier: str, *, what: str | None = None
    ) -> None:
        """Raise :class:`RateLimitedError` if ``identifier`` has used up ``cls``; ``what``
        names what was counted (default: ``<class> from this address``)."""
        decision = await self.peek(cls, identifier)
        if not decision.allowed:
            counted = what or f"{cls.value.replace('_', ' ')} from this address"
            raise RateLimitedError(
                f"rate limit: more than {decision.limit} {counted} "
                f"in the window; retry in {max(decision.reset_s, 1)} s",
                headers=decision.headers(),
            )


def _tighter(a: RateDecision, b: RateDecision) -> bool:
    if a.allowed != b.allowed:
        return not a.allowed
    return a.remaining < b.remaining
