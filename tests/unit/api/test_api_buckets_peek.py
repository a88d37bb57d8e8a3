"""TokenBuckets.peek: what take would say, without taking."""

from __future__ import annotations

from api.security.buckets import TokenBuckets


def test_peek_takes_nothing_and_agrees_with_take() -> None:
    buckets = TokenBuckets()
    key = ("auth_failures", "192.0.2.7")
    assert buckets.peek(key, capacity=2, period_s=60, now_s=0).allowed
    assert len(buckets) == 0
    for _ in range(2):
        assert buckets.take(key, capacity=2, period_s=60, now_s=0).allowed
    assert not buckets.peek(key, capacity=2, period_s=60, now_s=0).allowed
    assert not buckets.peek(key, capacity=2, period_s=60, now_s=0).allowed
    # 30 s refill one token of "2 per 60 s".
    assert buckets.peek(key, capacity=2, period_s=60, now_s=30).allowed
    assert buckets.take(key, capacity=2, period_s=60, now_s=30).allowed
    assert not buckets.take(key, capacity=2, period_s=60, now_s=30).allowed
