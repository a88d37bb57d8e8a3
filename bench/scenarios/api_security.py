"""The cost of the API's rate limiting and audit log on a cheap authenticated GET.

Two ``python -m api`` processes on the same stack: the subject with the defaults (rate
limits and audit on), the baseline with both turned off. One sequential keep-alive client
sends ``GET /api/machines`` to them in alternating blocks, so load from anything else on
the machine falls on both alike.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx

from bench.core import Figure, ScenarioContext
from bench.stack import terminate
from infra.ports import free_port

NAME = "api_security"
TITLE = "API rate limits and audit log: requests/s of a cheap GET, on vs off"

_STARTUP_TIMEOUT_S = 60.0
_BLOCK_TIMEOUT_S = 30.0
_ROUNDS = 8


@contextlib.contextmanager
def _api(ctx: ScenarioContext, *, secure: bool) -> Iterator[httpx.Client]:
    settings = ctx.fresh_settings(partitions=1)
    admin_key = "sk_bench_" + secrets.token_hex(16)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env.update(ctx.env(settings))
    env.update(
        MILLSTREAM_API_PORT=str(port),
        MILLSTREAM_API_ADMIN_API_KEY=admin_key,
        MILLSTREAM_API_LOG_LEVEL="WARNING",
        MILLSTREAM_API_RATE_LIMIT_READ="100000/second",
        MILLSTREAM_API_RATE_LIMIT_ENABLED="true" if secure else "false",
        MILLSTREAM_API_AUDIT_ENABLED="true" if secure else "false",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError("api exited during start-up")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("api did not start in time")
            time.sleep(0.2)
        with httpx.Client(base_url=url, headers={"X-API-Key": admin_key}, timeout=10) as client:
            yield client
    finally:
        terminate(proc, timeout_s=20)


def _block_s(client: httpx.Client, count: int) -> tuple[int, float]:
    """Requests sent and seconds taken (bounded by ``_BLOCK_TIMEOUT_S``)."""
    started = time.perf_counter()
    stop_at = time.monotonic() + _BLOCK_TIMEOUT_S
    done = 0
    while done < count and time.monotonic() < stop_at:
        client.get("/api/machines").raise_for_status()
        done += 1
    return done, time.perf_counter() - started


def run(ctx: ScenarioContext) -> list[Figure]:
    per_block = 100 if ctx.quick else 500
    ctx.progress(f"{NAME}: {_ROUNDS} rounds of {per_block} GETs to each of two API processes")
    rates: dict[bool, list[float]] = {True: [], False: []}
    sent = 0
    with _api(ctx, secure=True) as secure, _api(ctx, secure=False) as plain:
        for client in (secure, plain):
            _block_s(client, 50)  # warm-up
        for round_no in range(_ROUNDS):
            order = [(False, plain), (True, secure)]
            for flag, client in order if round_no % 2 == 0 else order[::-1]:
                done, took_s = _block_s(client, per_block)
                rates[flag].append(done / took_s)
                sent += done
    subject = statistics.median(rates[True])
    baseline = statistics.median(rates[False])
    return [
        Figure(
            scenario=NAME,
            name="GET /api/machines, rate limits and audit on",
            value=round(subject, 1),
            unit="requests/s",
            baseline_name="rate limits and audit off",
            baseline_value=round(baseline, 1),
            goal="at least 0.8 of the baseline",
            met=subject >= 0.8 * baseline,
            higher_is_better=True,
            note="medians of alternating blocks from one sequential keep-alive client; "
            "authentication, metrics and the middleware run in both",
            extra={"requests": sent, "blocks_each": _ROUNDS},
        )
    ]
