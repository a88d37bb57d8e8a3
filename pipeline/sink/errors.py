"""What a sink's failed attempt means, so the one retry policy (``pipeline.storage.delivery``) can
act on it: try again later, give up on the refused points, or hold consumption back."""

from __future__ import annotations

from typing import Literal

from contracts.errors import MillstreamError

Outcome = Literal["retryable", "refused", "backpressure"]

# InfluxDB statuses that mean "these points are refused", not "try later". An auth error
# or a missing bucket (401, 403, 404) is a configuration problem, not bad data: retried
# (and logged) until someone fixes it, so no reading is dead-lettered for it.
REFUSED_STATUSES = frozenset((400, 413, 422))
# "Slow down": the server is overloaded (429 Too Many Requests, 503 Service Unavailable).
BACKPRESSURE_STATUSES = frozenset((429, 503))


def classify(status: int | None) -> Outcome:
    """The outcome of an attempt that failed with HTTP ``status`` (None: no answer)."""
    if status in BACKPRESSURE_STATUSES:
        return "backpressure"
    if status in REFUSED_STATUSES:
        return "refused"
    return "retryable"


class InfluxWriteError(MillstreamError):
    """One write attempt failed; the text names the bucket and the cause."""

    def __init__(
        self,
        message: str,
        *,
        bucket: str,
        lines: int,
        status: int | None,
        outcome: Outcome,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.lines = lines
        self.status = status
        self.outcome = outcome
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.outcome != "refused"


class SinkBackpressureError(InfluxWriteError):
    """InfluxDB asked us to slow down (429 or 503): consumption pauses until it accepts."""
