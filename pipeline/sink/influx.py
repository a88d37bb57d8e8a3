"""The InfluxDB edge: writes batches of line protocol, retrying a bounded number of times.

Readings go to ``influx_bucket``, alarm rows to ``influx_alarms_bucket``, both with
millisecond precision. A write that still fails after its attempts raises
:class:`InfluxWriteError`; nothing is dropped here, the caller decides what to do.
Client errors that cannot succeed on a retry (400 bad line protocol, 401, 403, 404 missing
bucket, 413) are raised after the first attempt, flagged ``retryable=False``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp
from influxdb_client import WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from contracts.errors import MillstreamError

if TYPE_CHECKING:
    from pipeline.settings import PipelineSettings

logger = logging.getLogger(__name__)

# Statuses worth another attempt: overload and server-side trouble.
_RETRYABLE_STATUSES = frozenset((408, 429, 500, 502, 503, 504))


class InfluxWriteError(MillstreamError):
    """InfluxDB did not accept a batch; the text names the bucket and the cause."""

    def __init__(
        self,
        message: str,
        *,
        bucket: str,
        lines: int,
        attempts: int,
        status: int | None,
        retryable: bool,
    ) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.lines = lines
        self.attempts = attempts
        self.status = status
        self.retryable = retryable


def backoff_s(attempt: int, *, first_ms: int, max_ms: int) -> float:
    """Pause before attempt ``attempt + 1`` (attempt counts from 1): doubling, capped."""
    delay_ms: int = min(first_ms * 2 ** (attempt - 1), max_ms)
    return delay_ms / 1000


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


class InfluxSink:
    """Async writer of line-protocol batches; use as ``async with InfluxSink(...) as sink``."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        org: str,
        readings_bucket: str,
        alarms_bucket: str,
        timeout_ms: int = 10_000,
        attempts: int = 3,
        backoff_ms: int = 500,
        backoff_max_ms: int = 10_000,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts: must be at least 1")
        self._url = url
        self._token = token
        self._org = org
        self.readings_bucket = readings_bucket
        self.alarms_bucket = alarms_bucket
        self._timeout_ms = timeout_ms
        self._attempts = attempts
        self._backoff_ms = backoff_ms
        self._backoff_max_ms = backoff_max_ms
        self._client: Any = None
        self._write_api: Any = None

    @classmethod
    def from_settings(cls, settings: PipelineSettings) -> InfluxSink:
        return cls(
            url=settings.influx_url,
            token=settings.influx_token.get_secret_value(),
            org=settings.influx_org,
            readings_bucket=settings.influx_bucket,
            alarms_bucket=settings.influx_alarms_bucket,
            timeout_ms=settings.pipeline_influx_timeout_ms,
            attempts=settings.pipeline_influx_write_attempts,
            backoff_ms=settings.pipeline_retry_backoff_ms,
            backoff_max_ms=settings.pipeline_retry_backoff_max_ms,
        )

    async def __aenter__(self) -> InfluxSink:
        self._client = InfluxDBClientAsync(
            url=self._url, token=self._token, org=self._org, timeout=self._timeout_ms
        )
        self._write_api = self._client.write_api()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        client, self._client, self._write_api = self._client, None, None
        if client is not None:
            await client.close()

    async def write_readings(self, lines: Sequence[str]) -> None:
        await self.write(self.readings_bucket, lines)

    async def write_alarms(self, lines: Sequence[str]) -> None:
        await self.write(self.alarms_bucket, lines)

    async def write(self, bucket: str, lines: Sequence[str]) -> None:
        """Write ``lines`` (ms precision) to ``bucket``; raise InfluxWriteError on failure."""
        if not lines:
            return
        if self._write_api is None:
            raise RuntimeError("InfluxSink used outside 'async with'")
        for attempt in range(1, self._attempts + 1):
            try:
                accepted = await self._write_api.write(
                    bucket=bucket, record=list(lines), write_precision=WritePrecision.MS
                )
                if accepted:
                    return
                error: InfluxWriteError = self._error(bucket, lines, attempt, None, True, "")
            except (TimeoutError, InfluxDBError, aiohttp.ClientError, OSError) as exc:
                status = _status_of(exc)
                retryable = status is None or status in _RETRYABLE_STATUSES
                detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                error = self._error(bucket, lines, attempt, status, retryable, str(detail))
                error.__cause__ = exc
            if not error.retryable or attempt == self._attempts:
                raise error
            pause_s = backoff_s(attempt, first_ms=self._backoff_ms, max_ms=self._backoff_max_ms)
            logger.warning(
                "influx write failed bucket=%s lines=%d attempt=%d/%d status=%s retry_in_s=%.2f "
                "error=%s",
                bucket,
                len(lines),
                attempt,
                self._attempts,
                error.status,
                pause_s,
                error,
            )
            await asyncio.sleep(pause_s)

    def _error(
        self,
        bucket: str,
        lines: Sequence[str],
        attempt: int,
        status: int | None,
        retryable: bool,
        detail: str,
    ) -> InfluxWriteError:
        cause = detail.strip().splitlines()[0] if detail.strip() else "write not accepted"
        return InfluxWriteError(
            f"bucket {bucket}: {len(lines)} lines not written after {attempt} attempt(s)"
            f" (status {status}): {cause}",
            bucket=bucket,
            lines=len(lines),
            attempts=attempt,
            status=status,
            retryable=retryable,
        )
