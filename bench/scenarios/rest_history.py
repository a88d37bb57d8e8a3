"""REST history: ``GET /api/machines/{id}/readings`` in 5-minute windows over 24 h of 1 Hz
data, against the same Flux query sent straight through influxdb-client.

24 h x 1 Hz x 5 sensors per machine are written to the telemetry bucket first (bare line
protocol). Then random 5-minute windows (300 points each) are queried, alternating the API
and the baseline window by window so both see the same noise. The baseline runs the very
Flux the API builds (``api.history.flux.readings_flux``) with influxdb-client's
``query_raw``, the call the API makes, so the ratio is the API's own cost (HTTP, auth,
parsing the CSV, JSON).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time

import httpx

from bench import load
from bench.core import Figure, ScenarioContext
from bench.stack import ADMIN_KEY, services

NAME = "rest_history"
TITLE = "GET /api/machines/{id}/readings, 5-minute windows over 24 h of 1 Hz data"
GOAL_P95_MS = 100.0
DAY_S = 86_400
WINDOW_S = 300


def _iso(ts: dt.datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def run(ctx: ScenarioContext) -> list[Figure]:
    from influxdb_client import InfluxDBClient

    from api.history.flux import readings_flux
    from api.history.params import readings_query

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
            timeout=30_000,
        ) as influx,
    ):
        base = svc.start_api()
        query_api = influx.query_api()
        with httpx.Client(base_url=base, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as http:
            for q in range(queries):
                m = rng.choice(ids)
                w0 = end - dt.timedelta(seconds=rng.randrange(WINDOW_S, DAY_S))
                w1 = w0 + dt.timedelta(seconds=WINDOW_S)
                t0 = time.perf_counter()
                resp = http.get(
                    f"/api/machines/{m}/readings", params={"start": _iso(w0), "stop": _iso(w1)}
                )
                api_ms.append((time.perf_counter() - t0) * 1000)
                if resp.status_code != 200:
                    raise RuntimeError(f"history answered {resp.status_code}: {resp.text[:200]}")
                points.append(len(resp.json()["points"]))
                query = readings_query(
                    machine_id=m,
                    start=_iso(w0),
                    stop=_iso(w1),
                    fields=None,
                    window=None,
                    fn=None,
                    limit=None,
                    now=end,
                    default_limit=10_000,
                    max_limit=100_000,
                )
                flux = readings_flux(query, bucket=settings.influx_bucket)
                t0 = time.perf_counter()
                query_api.query_raw(flux).read()
                base_ms.append((time.perf_counter() - t0) * 1000)
                if q % 20 == 0:
                    ctx.progress(f"query {q}/{queries}")
    if min(points) < WINDOW_S - 1:
        raise RuntimeError(f"a 5-minute window returned {min(points)} points, expected ~300")
    p50, p95 = load.percentile(api_ms, 50), load.percentile(api_ms, 95)
    b50, b95 = load.percentile(base_ms, 50), load.percentile(base_ms, 95)
    note = f"{queries} windows over {machines} machines, {min(points)}-{max(points)} points each"
    return [
        Figure(
            NAME,
            "p50",
            p50,
            "ms",
            baseline_name="same Flux via influxdb-client p50",
            baseline_value=b50,
            higher_is_better=False,
            note=note,
        ),
        Figure(
            NAME,
            "p95",
            p95,
            "ms",
            baseline_name="same Flux via influxdb-client p95",
            baseline_value=b95,
            higher_is_better=False,
            goal=f"<= {GOAL_P95_MS:.0f} ms",
            met=p95 <= GOAL_P95_MS,
        ),
        Figure(
            NAME,
            "max",
            max(api_ms),
            "ms",
            baseline_name="baseline max",
            baseline_value=max(base_ms),
            higher_is_better=False,
        ),
    ]
