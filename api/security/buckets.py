"""Token buckets in process memory: the default rate-limit store, a pure core.

A limit "N per T" is a bucket of N tokens refilled at N/T tokens per second; a request
takes one token. Bursts up to N pass, the sustained rate is N/T. Buckets that have
refilled completely hold no information and are forgotten once there are many, so memory
stays bounded by the callers active within one period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    capacity: int
    rate_per_s: float
    tokens: float
    updated_s: float

    def refill(self, now_s: float) -> None:
        elapsed_s = max(0.0, now_s - self.updated_s)
        self.tokens = min(float(self.capacity), self.tokens + elapsed_s * self.rate_per_s)
        self.updated_s = now_s

    def allowed(self) -> BucketResult:
        return BucketResult(
            allowed=True,
            remaining=math.floor(self.tokens),
            reset_s=(self.capacity - self.tokens) / self.rate_per_s,
        )

    def refused(self) -> BucketResult:
        return BucketResult(
            allowed=False, remaining=0, reset_s=(1.0 - self.tokens) / self.rate_per_s
        )


@dataclass(frozen=True, slots=True)
class BucketResult:
    allowed: bool
    remaining: int
    # seconds until one token is back (refused) or until the bucket is full (allowed)
    reset_s: float


class TokenBuckets:
    def __init__(self, *, sweep_at_buckets: int = 10_000) -> None:
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._sweep_at = sweep_at_buckets

    def __len__(self) -> int:
        return len(self._buckets)

    def take(
        self, key: tuple[str, ...], *, capacity: int, period_s: float, now_s: float
    ) -> BucketResult:
        """Take one token from the bucket ``key`` ("``capacity`` per ``period_s``")."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self.forget_full(now_s)
            bucket = _Bucket(capacity, capacity / period_s, float(capacity), now_s)
            self._buckets[key] = bucket
        else:
            bucket.refill(now_s)
        if bucket.tokens < 1.0:
            return bucket.refused()
        bucket.tokens -= 1.0
        return bucket.allowed()

    def peek(
        self, key: tuple[str, ...], *, capacity: int, period_s: float, now_s: float
    ) -> BucketResult:
        """Whether :meth:`take` would pass now, without taking a token."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return BucketResult(allowed=True, remaining=capacity, reset_s=0.0)
        bucket.refill(now_s)
        return bucket.allowed() if bucket.tokens >= 1.0 else bucket.refused()

    def forget_full(self, now_s: float) -> int:
        """Drop the buckets that have refilled completely; returns how many."""
        full = []
        for key, bucket in self._buckets.items():
            bucket.refill(now_s)
            if bucket.tokens >= bucket.capacity:
                full.append(key)
        for key in full:
            del self._buckets[key]
        return len(full)
