"""REST history: ``GET /api/machines/{id}/readings`` in 5-minute windows over 24 h of 1 Hz
data, against the same Flux query sent straight through influxdb-client.

24 h x 1 Hz x 5 sensors per machine are written to the telemetry bucket first (bare line
protocol). Then random 5-minute windows (300 points each) are queried, alternating the API
and the baseline window by window so both see the same noise. The baseline runs the very
Flux the API builds (``api.history.flux.readings_flux``) with influxdb-client's
``query_raw``, the call the API makes, so the ratio is the API's own cost (HTTP, auth,
parsing the CSV, JSON).

"30 days": a 30-day range of hourly means (``window=1h&fn=mean&source=auto``), which the
API reads from the aggregates bucket's one-minute windows (30 days x 1,440 windows x 5
sensors per machine are written there first, as the pipeline writes them, ``sum``
included) as the sum of the minutes' sums over the sum of their counts, against the very
Flux the API builds for it (``api.history.sources.aggregated_flux``). For a mean that Flux
returns each sensor's hourly sums and counts, which the API divides and sets side by side
itself, so the ratio holds that work too. "30 days, max" is the same range of hourly maxima.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from bench import load
from bench.core import Figure, ScenarioContext, latency_figures
from bench.stack import ADMIN_KEY, services

NAME = "rest_history"
BASELINE = "same Flux via influxdb-client"
TITLE = "GET /api/machines/{id}/readings, 5-minute windows over 24 h of 1 Hz data"
GOAL_P95_MS = 100.0
DAY_S = 86_400
WINDOW_S = 300
MONTH_MIN = 30 * 1_440
T = TypeVar("T")
SENSORS = ("temperature_c", "vibration_mm_s", "power_kw", "spindle_rpm", "oil_pressure_bar")


def _iso(ts: dt.datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _timed_ms(into: list[float], call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``'s answer; its duration in ms is appended to ``into``."""
    t0 = time.perf_counter()
    answer = call(*args, **kwargs)
    into.append((time.perf_counter() - t0) * 1000)
    return answer


def _read_flux(query_api: Any, flux: str) -> None:
    """The baseline: the Flux sent with influxdb-client's ``query_raw``, its CSV read whole."""
    query_api.query_raw(flux).read()


def _api_query(machine: str, now: dt.datetime, params: dict[str, str]) -> Any:
    """The query the API builds for ``params`` (the readings route's parameters, as sent)."""
    from api.history.params import readings_query

    given: dict[str, Any] = {"fields": None, "window": None, "fn": None, "limit": None}
    given.update((k, v) for k, v in params.items() if k != "source")
    return readings_query(
        machine_id=machine, now=now, default_limit=10_000, max_limit=100_000, **given
    )


def _minute_windows(machine: str, end_min: int) -> list[str]:
    """30 days of the pipeline's one-minute windows (``window=1m``) for every sensor."""
    lines = []
    for i in range(MONTH_MIN):
        at = (end_min - MONTH_MIN + i) * 60_000
        mean = 60 + (i % 600) / 100
        for sensor in SENSORS:
            lines.append(
                f"aggregates,line=l1,machine_id={machine},plant=bench,sensor={sensor},window=1m"
                f" count=60i,min={mean - 1},max={mean + 1},mean={mean},last={mean},stddev=0.5,"
                f"sum={mean * 60} {at}"
            )
    return lines


def _thirty_days(
    ctx: ScenarioContext,
    http: httpx.Client,
    query_api: Any,
    settings: Any,
    ids: list[str],
    fn: str,
) -> list[Figure]:
    from api.history.sources import AGGREGATED, aggregated_flux

    queries = 30 if ctx.quick else 200
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    start = end - dt.timedelta(days=30)
    params = {
        "start": _iso(start),
        "stop": _iso(end),
        "window": "1h",
        "fn": fn,
        "source": "auto",
    }
    api_ms: list[float] = []
    base_ms: list[float] = []
    for q in range(queries):
        m = ids[q % len(ids)]
        resp = _timed_ms(
            api_ms, http.get, f"/api/machines/{m}/readings", params=params, timeout=120
        )
        body = resp.json()
        if resp.status_code != 200 or body["source"] != AGGREGATED:
            raise RuntimeError(f"30-day history answered {resp.status_code}: {resp.text[:200]}")
        if not 719 <= len(body["points"]) <= 721:
            raise RuntimeError(f"30 days at 1 h gave {len(body['points'])} points, not 720")
        flux = aggregated_flux(_api_query(m, end, params), bucket=settings.influx_aggregates_bucket)
        _timed_ms(base_ms, _read_flux, query_api, flux)
    note = (
        f"{queries} queries over {len(ids)} machines, window=1h fn={fn}, 720 points of"
        f" {len(SENSORS)} sensors from {MONTH_MIN * len(SENSORS):,} one-minute windows"
    )
    return latency_figures(
        NAME,
        api_ms,
        base_ms,
        baseline=BASELINE,
        stats=("p50", "p95"),
        label="30 days" if fn == "mean" else f"30 days, {fn}",
        goal=("p95", GOAL_P95_MS),
        note=note,
    )


def run(ctx: ScenarioContext) -> list[Figure]:
    from influxdb_client import InfluxDBClient

    from api.history.flux import readings_flux

    machines, queries = (2, 60) if ctx.quick else (8, 300)
    settings = ctx.fresh_settings()
    tag = load.run_tag()
    ids = load.machine_ids(tag, machines)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start_ms = int(end.timestamp() * 1000) - DAY_S * 1000
    ctx.progress(f"writing 24 h of 1 Hz data for {machines} machines")
    for m in ids:
        lines = [
            f"readings,line=l1,machine_id={m},plant=bench temperature_c={60 + (i % 600) / 100},"
            f"vibration_mm_s=2.5,power_kw=11.0,spindle_rpm=1200.0,oil_pressure_bar=4.25 "
            f"{start_ms + i * 1000}"
            for i in range(DAY_S)
        ]
        asyncio.run(load.bare_write(settings, lines))
    minute = int(end.timestamp()) // 60
    for m in ids:
        ctx.progress(f"writing 30 days of one-minute windows for {m}")
        windows = _minute_windows(m, minute)
        asyncio.run(load.bare_write(settings, windows, bucket=settings.influx_aggregates_bucket))
    rng = random.Random(8)
    api_ms: list[float] = []
    base_ms: list[float] = []
    points: list[int] = []
    with (
        services(ctx.work_dir, ctx.env(settings)) as svc,
        InfluxDBClient(
            url=settings.influx_url,
            token=settings.influx_token.get_secret_value(),
            org=settings.influx_org,
            timeout=120_000,
        ) as influx,
    ):
        base = svc.start_api()
        query_api = influx.query_api()
        with httpx.Client(base_url=base, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as http:
            for q in range(queries):
                m = rng.choice(ids)
                w0 = end - dt.timedelta(seconds=rng.randrange(WINDOW_S, DAY_S))
                w1 = w0 + dt.timedelta(seconds=WINDOW_S)
                params = {"start": _iso(w0), "stop": _iso(w1)}
                url = f"/api/machines/{m}/readings"
                resp = _timed_ms(api_ms, http.get, url, params=params)
                if resp.status_code != 200:
                    raise RuntimeError(f"history answered {resp.status_code}: {resp.text[:200]}")
                points.append(len(resp.json()["points"]))
                flux = readings_flux(_api_query(m, end, params), bucket=settings.influx_bucket)
                _timed_ms(base_ms, _read_flux, query_api, flux)
                if q % 20 == 0:
                    ctx.progress(f"query {q}/{queries}")
            month = []
            for fn in ("mean", "max"):
                ctx.progress(f"30 days at 1-hour windows, fn={fn}")
                month += _thirty_days(ctx, http, query_api, settings, ids, fn)
    if min(points) < WINDOW_S - 1:
        raise RuntimeError(f"a 5-minute window returned {min(points)} points, expected ~300")
    note = f"{queries} windows over {machines} machines, {min(points)}-{max(points)} points each"
    return [
        *latency_figures(
            NAME,
            api_ms,
            base_ms,
            baseline=BASELINE,
            stats=("p50", "p95", "max"),
            goal=("p95", GOAL_P95_MS),
            note=note,
        ),
        *month,
    ]
