"""The API's InfluxDB client: readiness checks and history queries."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.domain.dialect import Dialect
from influxdb_client.rest import ApiException

from api.errors import HistoryUnavailableError
from api.history.csvrows import FluxResultError, points_from_csv
from api.history.flux import latest_flux, latest_texts_flux, readings_flux
from api.history.params import ReadingsQuery
from api.history.sources import (
    AGGREGATED,
    RAW,
    WEIGHTED,
    aggregated_flux,
    unsummed_flux,
)
from api.history.windowsums import window_sums
from contracts import influx_schema
from contracts.influx_schema import QUALITY_SUFFIX

R = TypeVar("R")

logger = logging.getLogger(__name__)

_DIALECT = Dialect(header=True, delimiter=",", annotations=["datatype"], date_time_format="RFC3339")


@dataclass(frozen=True, slots=True)
class ReadingsResult:
    points: list[dict[str, Any]]
    truncated: bool


class HistoryReader:
    """Runs validated history queries against one bucket."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        org: str,
        bucket: str,
        timeout_s: float,
        aggregates_bucket: str = influx_schema.AGGREGATES_BUCKET,
        alarms_bucket: str = influx_schema.ALARMS_BUCKET,
    ) -> None:
        self._url = url
        self._token = token
        self._org = org
        self.bucket = bucket
        self.aggregates_bucket = aggregates_bucket
        self.alarms_bucket = alarms_bucket
        self._timeout_s = timeout_s
        self._client: InfluxDBClientAsync | None = None

    async def start(self) -> None:
        self._client = InfluxDBClientAsync(
            url=self._url, token=self._token, org=self._org, timeout=int(self._timeout_s * 1000)
        )
        logger.info(
            "influxdb client ready url=%s org=%s bucket=%s", self._url, self._org, self.bucket
        )

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _started(self) -> InfluxDBClientAsync:
        if self._client is None:
            raise HistoryUnavailableError("influxdb: the client is not running")
        return self._client

    async def check(self, *, timeout_s: float) -> None:
        """Raise :class:`HistoryUnavailableError` unless InfluxDB answers its ping."""
        client = self._started()
        try:
            async with asyncio.timeout(timeout_s):
                ok = await client.ping()
        except TimeoutError as exc:
            raise HistoryUnavailableError(f"influxdb: no answer within {timeout_s:g}s") from exc
        if not ok:
            raise HistoryUnavailableError(f"influxdb: {self._url} does not answer")

    async def readings(
        self, query: ReadingsQuery, *, source: str = RAW, quality: bool = False
    ) -> ReadingsResult:
        """Points of the telemetry bucket (``source`` raw; with ``quality``, the
        ``<sensor>_quality`` strings too) or of its one-minute windows (aggregates; a
        second query when a mean or sum meets minutes without their ``sum``)."""
        started = time.perf_counter()
        if source == AGGREGATED:
            flux = aggregated_flux(query, bucket=self.aggregates_bucket)
        else:
            flux = readings_flux(query, bucket=self.bucket, quality=quality)
        text = await self._query_raw(flux)
        try:
            if source != AGGREGATED or query.fn not in WEIGHTED:
                points = points_from_csv(text, text_suffix=QUALITY_SUFFIX if quality else None)
            elif (sums := window_sums(text)).unsummed:
                flux = unsummed_flux(query, bucket=self.aggregates_bucket)
                text = await self._query_raw(flux)
                points = points_from_csv(text, text_suffix=QUALITY_SUFFIX if quality else None)
            else:
                points = sums.points(fn=str(query.fn), limit=query.limit)
        except FluxResultError as exc:
            logger.warning("influxdb query failed mid-result error=%s query=%r", exc, flux)
            raise HistoryUnavailableError(f"influxdb: query failed ({exc})") from exc
        truncated = len(points) > query.limit
        if truncated:
            del points[query.limit :]
        logger.debug(
            "history query machine_id=%s source=%s points=%d elapsed_ms=%.1f",
            query.machine_id,
            source,
            len(points),
            (time.perf_counter() - started) * 1000,
        )
        return ReadingsResult(points=points, truncated=truncated)

    async def latest(
        self, *, machine_id: str, start: datetime, stop: datetime
    ) -> dict[str, dict[str, Any]]:
        """The newest value of every numeric field of the machine in ``[start, stop)``."""
        flux = latest_flux(bucket=self.bucket, machine_id=machine_id, start=start, stop=stop)
        return latest_values(await self.query_rows(flux, points_from_csv))

    async def latest_texts(
        self, *, machine_id: str, start: datetime, stop: datetime
    ) -> dict[str, dict[str, Any]]:
        """The newest text of every text tag of the machine in ``[start, stop)``."""
        flux = latest_texts_flux(bucket=self.bucket, machine_id=machine_id, start=start, stop=stop)
        return latest_texts(await self.query_rows(flux, _points(tags=("_field", "_value"))))

    async def aggregates(self, flux: str, *, limit: int) -> ReadingsResult:
        """The rows of an :func:`~api.history.flux.aggregates_flux` query (of the
        aggregates bucket) that asked for ``limit + 1``: at most ``limit``, and whether more
        were there."""
        points = await self.query_rows(flux, _points(tags=("sensor",)))
        truncated = len(points) > limit
        del points[limit:]
        return ReadingsResult(points=points, truncated=truncated)

    async def query_csv(self, flux: str) -> str:
        """The annotated CSV of any Flux query (``#datatype`` annotation, header);
        :class:`HistoryUnavailableError` when InfluxDB refuses or does not answer."""
        return await self._query_raw(flux)

    async def query_rows(self, flux: str, parse: Callable[[str], R]) -> R:
        """``parse`` of the query's annotated CSV; :class:`HistoryUnavailableError` when
        InfluxDB refuses, does not answer, or breaks off mid-result."""
        text = await self._query_raw(flux)
        try:
            return parse(text)
        except FluxResultError as exc:
            raise HistoryUnavailableError(f"influxdb: query failed ({exc})") from exc

    async def _query_raw(self, flux: str) -> str:
        client = self._started()
        try:
            result: str = await client.query_api().query_raw(flux, dialect=_DIALECT)
        except ApiException as exc:
            logger.warning(
                "influxdb query refused status=%s reason=%s body=%s query=%r",
                exc.status,
                exc.reason,
                exc.body,
                flux,
            )
            raise HistoryUnavailableError(
                f"influxdb: query refused ({exc.status} {exc.reason})"
            ) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.warning("influxdb query failed error=%r", exc)
            raise HistoryUnavailableError(f"influxdb: query failed ({type(exc).__name__})") from exc
        return result


def _points(*, tags: tuple[str, ...]) -> Callable[[str], list[dict[str, Any]]]:
    return functools.partial(points_from_csv, tags=tags)


def latest_texts(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows of :func:`latest_texts_flux` -> ``{tag: {"value": "<text>", "ts": ..}}``."""
    out = {
        row["_field"]: {"value": row.get("_value", ""), "ts": row["ts"]}
        for row in rows
        if "_field" in row
    }
    return dict(sorted(out.items()))


def latest_values(points: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows of :func:`latest_flux`, oldest first -> ``{field: {"value": .., "ts": ..}}``."""
    out: dict[str, dict[str, Any]] = {}
    for point in points:
        ts = point["ts"]
        for name, value in point.items():
            if name != "ts":
                out[name] = {"value": value, "ts": ts}
    return dict(sorted(out.items()))
