"""The InfluxDB edge: one write attempt per call, its failure classified.

Readings go to ``influx_bucket``, aggregates to ``influx_aggregates_bucket``, alarm rows to
``influx_alarms_bucket`` (all millisecond precision), audit rows to ``influx_audit_bucket``
(nanoseconds). A failed attempt raises :class:`~pipeline.sink.errors.InfluxWriteError`
(or :class:`~pipeline.sink.errors.SinkBackpressureError` for 429 and 503, with the
server's ``Retry-After`` when it sent one); this module never retries and never sleeps:
:mod:`pipeline.storage.delivery` retries, under :mod:`kafka_edge.retry`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import aiohttp
from influxdb_client import WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from contracts.influx_schema import AGGREGATES_BUCKET, AUDIT_BUCKET
from pipeline.sink.errors import InfluxWriteError, SinkBackpressureError, classify

if TYPE_CHECKING:
    from contracts.influx_servers import InfluxServer
    from contracts.settings import CommonSettings
    from pipeline.settings import PipelineSettings

logger = logging.getLogger(__name__)


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _retry_after_s(exc: BaseException) -> float | None:
    retry_after = getattr(exc, "retry_after", None)
    try:
        return float(retry_after) if retry_after is not None else None
    except (TypeError, ValueError):
        return None


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
        aggregates_bucket: str = AGGREGATES_BUCKET,
        audit_bucket: str = AUDIT_BUCKET,
        timeout_ms: int = 10_000,
    ) -> None:
        self.url = url
        self._token = token
        self._org = org
        self.readings_bucket = readings_bucket
        self.alarms_bucket = alarms_bucket
        self.aggregates_bucket = aggregates_bucket
        self.audit_bucket = audit_bucket
        self._timeout_ms = timeout_ms
        self._client: Any = None
        self._write_api: Any = None

    @classmethod
    def from_settings(
        cls,
        settings: PipelineSettings | CommonSettings,
        server: InfluxServer | None = None,
        **extra: Any,
    ) -> Self:
        """A sink for ``server`` (None: the default one), with the settings' buckets;
        ``extra``: a subclass's own constructor arguments."""
        if server is None:
            server = settings.influx_servers().default
        return cls(
            url=server.url,
            token=server.token,
            org=server.org,
            readings_bucket=settings.influx_bucket,
            alarms_bucket=settings.influx_alarms_bucket,
            aggregates_bucket=settings.influx_aggregates_bucket,
            audit_bucket=settings.influx_audit_bucket,
            timeout_ms=getattr(settings, "pipeline_influx_timeout_ms", 10_000),
            **extra,
        )

    async def __aenter__(self) -> Self:
        self._client = InfluxDBClientAsync(
            url=self.url, token=self._token, org=self._org, timeout=self._timeout_ms
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

    async def write_aggregates(self, lines: Sequence[str]) -> None:
        await self.write(self.aggregates_bucket, lines)

    async def write_audit(self, lines: Sequence[str]) -> None:
        await self.write(self.audit_bucket, lines, precision=WritePrecision.NS)

    async def write(
        self, bucket: str, lines: Sequence[str], *, precision: str = WritePrecision.MS
    ) -> None:
        """One attempt to write ``lines`` to ``bucket``; raise InfluxWriteError on failure."""
        if not lines:
            return
        if self._write_api is None:
            await self.__aenter__()  # opened lazily, inside the running event loop
        try:
            accepted = await self._write_api.write(
                bucket=bucket, record=list(lines), write_precision=precision
            )
        except (TimeoutError, InfluxDBError, aiohttp.ClientError, OSError) as exc:
            status = _status_of(exc)
            detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise self._error(bucket, lines, status, str(detail), _retry_after_s(exc)) from exc
        if not accepted:
            raise self._error(bucket, lines, None, "", None)

    @staticmethod
    def _error(
        bucket: str,
        lines: Sequence[str],
        status: int | None,
        detail: str,
        retry_after_s: float | None,
    ) -> InfluxWriteError:
        cause = detail.strip().splitlines()[0] if detail.strip() else "write not accepted"
        outcome = classify(status)
        kind = SinkBackpressureError if outcome == "backpressure" else InfluxWriteError
        return kind(
            f"bucket {bucket}: {len(lines)} lines not written (status {status}): {cause}",
            bucket=bucket,
            lines=len(lines),
            status=status,
            outcome=outcome,
            retry_after_s=retry_after_s,
        )
