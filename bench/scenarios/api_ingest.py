"""API ingest: ``POST /api/readings`` one reading per request, sequentially, each answered
``201`` only once Kafka has acknowledged it.

The subject is the API with its default producer linger (0 ms); the baseline the same API
with the 5 ms linger it used to have. Both run as ``python -m api`` on fresh topics, one
after the other, measured the same way: requests per second over one keep-alive
connection, after a warm-up.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.core import Figure, ScenarioContext
from bench.stack import terminate
from infra.ports import free_port

NAME = "api_ingest"
TITLE = "API ingest, one reading per request, sequential (201 = Kafka has it)"

REPO = Path(__file__).resolve().parents[2]
BASELINE_LINGER_MS = 5
WARMUP = 30


def _requests(ctx: ScenarioContext) -> int:
    return 200 if ctx.quick else 1000


def _rate(ctx: ScenarioContext, linger_ms: int) -> float:
    settings = ctx.fresh_settings(partitions=3)
    key = "sk_bench_" + secrets.token_hex(12)
    port = free_port("127.0.0.1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env.update(ctx.env(settings))
    env.update(
        MILLSTREAM_API_HOST="127.0.0.1",
        MILLSTREAM_API_PORT=str(port),
        MILLSTREAM_API_ADMIN_API_KEY=key,
        MILLSTREAM_API_KAFKA_LINGER_MS=str(linger_ms),
        MILLSTREAM_API_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "api"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("api did not become ready")
                time.sleep(0.2)
            body = {"machine_id": 42, "temperature_c": 60.0}
            for _ in range(WARMUP):
                client.post("/api/readings", json=body).raise_for_status()
            count = _requests(ctx)
            started = time.perf_counter()
            for i in range(count):
                body["temperature_c"] = 60.0 + i % 10
                response = client.post("/api/readings", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"POST /api/readings: {response.status_code}")
            return count / (time.perf_counter() - started)
    finally:
        terminate(proc, timeout_s=30)


def run(ctx: ScenarioContext) -> list[Figure]:
    ctx.progress(f"api ingest with a {BASELINE_LINGER_MS} ms producer linger (baseline)")
    baseline = _rate(ctx, BASELINE_LINGER_MS)
    ctx.progress("api ingest with the default 0 ms linger")
    subject = _rate(ctx, 0)
    return [
        Figure(
            scenario=NAME,
            name="POST /api/readings, one reading per request, sequential",
            value=subject,
            unit="requests/s",
            baseline_name=f"same API, producer linger {BASELINE_LINGER_MS} ms",
            baseline_value=baseline,
            goal=">= 1.5x the baseline",
            met=subject >= 1.5 * baseline,
            note=f"{1000 / subject:.2f} ms per request",
        )
    ]
