"""The rate-limit policy and limiter, in memory; per-app metrics."""

import pytest
from limits import parse_many

from api.security.buckets import TokenBuckets
from api.security.metrics import ApiMetrics
from api.security.ratelimit import RateLimiter, RouteClass, _SharedWindows, route_class


@pytest.mark.parametrize(
    ("method", "path", "cls"),
    [
        ("GET", "/api/machines", RouteClass.read),
        ("HEAD", "/api/machines", RouteClass.read),
        ("POST", "/api/readings", RouteClass.ingest),
        ("GET", "/api/readings", RouteClass.read),
        ("PATCH", "/api/machines/42", RouteClass.write),
        ("DELETE", "/api/keys/abc", RouteClass.write),
        ("POST", "/api/auth/login", RouteClass.login),
    ],
)
def test_route_classes(method, path, cls):
    assert route_class(method, path) is cls


async def test_limits_are_per_identifier_and_report_headers():
    limiter = RateLimiter(storage_uri="memory://", limits={RouteClass.write: "2/minute;10/hour"})

    first = await limiter.hit(RouteClass.write, "key:a")
    second = await limiter.hit(RouteClass.write, "key:a")
    third = await limiter.hit(RouteClass.write, "key:a")
    other = await limiter.hit(RouteClass.write, "key:b")

    assert (first.allowed, second.allowed, third.allowed, other.allowed) == (
        True,
        True,
        False,
        True,
    )
    assert (first.limit, first.remaining) == (2, 1)  # the tighter of the two limits
    headers = third.headers()
    assert headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert "Retry-After" not in other.headers()


def test_each_app_has_its_own_registry():
    one, two = ApiMetrics(), ApiMetrics()
    one.observe_request(route="/api/machines", method="GET", status=200, duration_s=0.01)

    assert b'route="/api/machines"' in one.render()
    assert b'route="/api/machines"' not in two.render()


def test_token_bucket_bursts_then_refills_at_its_rate():
    buckets = TokenBuckets()
    key = ("read", "key:a")

    taken = [buckets.take(key, capacity=3, period_s=3.0, now_s=100.0) for _ in range(4)]
    later = buckets.take(key, capacity=3, period_s=3.0, now_s=101.0)  # one token back

    assert [t.allowed for t in taken] == [True, True, True, False]
    assert [t.remaining for t in taken[:3]] == [2, 1, 0]
    assert taken[3].reset_s == pytest.approx(1.0)
    assert later.allowed and later.remaining == 0
    assert not buckets.take(key, capacity=3, period_s=3.0, now_s=101.0).allowed


def test_full_buckets_are_forgotten():
    buckets = TokenBuckets()
    buckets.take(("a",), capacity=2, period_s=1.0, now_s=0.0)
    buckets.take(("b",), capacity=2, period_s=100.0, now_s=0.0)

    assert buckets.forget_full(now_s=5.0) == 1  # "a" refilled, "b" still counting
    assert len(buckets) == 1


async def test_shared_storage_windows_through_limits():
    """The path replicas use with Redis, here over limits' asyncio memory storage."""
    windows = _SharedWindows("memory://")
    item = parse_many("2/minute")[0]

    results = [await windows.hit(item, "read", "key:a") for _ in range(3)]

    assert [r.allowed for r in results] == [True, True, False]
    assert results[1].remaining == 0
    assert 1 <= results[2].reset_s <= 60
