"""``/live`` overview subscriptions: consoles following every machine at 1 Hz.

Machines produce one reading a second through Kafka. The same crowd of clients follows
them twice: each with one ``subscribe_overview`` of every machine at 1,000 ms (the server
coalesces: one frame a second with each machine's latest reading), then each subscribed to
every machine one by one (a frame per reading per client), the baseline. Measured: the
API process's CPU, frames and machine values delivered per second.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time

import orjson
import psutil
import websockets

from bench import load
from bench.core import Figure, ScenarioContext
from bench.stack import ADMIN_KEY, services

NAME = "ws_overview"
TITLE = "/live overview: clients following every machine at 1 Hz, coalesced, vs per-machine"


async def _client(url: str, subscribe: list[str], tally: list[int], ready: asyncio.Event) -> None:
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        for message in subscribe:
            await ws.send(message)
        ready.set()
        while True:
            frame = orjson.loads(await ws.recv())
            if frame["type"] == "overview":
                tally[0] += 1
                tally[1] += len(frame["machines"])
            elif frame["type"] == "reading":
                tally[0] += 1
                tally[1] += 1


async def _phase(
    url: str, messages: list[str], clients: int, api: psutil.Process, measure_s: float
) -> dict[str, float]:
    tally = [0, 0]
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = [asyncio.create_task(_client(url, messages, tally, r)) for r in readies]
    try:
        async with asyncio.timeout(120):
            await asyncio.gather(*(r.wait() for r in readies))
        await asyncio.sleep(3.0)  # subscriptions answered, a steady state reached
        cpu0, frames0, values0, t0 = sum(api.cpu_times()[:2]), tally[0], tally[1], time.monotonic()
        await asyncio.sleep(measure_s)
        span = time.monotonic() - t0
        cpu = (sum(api.cpu_times()[:2]) - cpu0) / span * 100
        return {
            "cpu_pct": cpu,
            "frames_s": (tally[0] - frames0) / span,
            "values_s": (tally[1] - values0) / span,
        }
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run(ctx: ScenarioContext) -> list[Figure]:
    clients, machines_n, measure_s = (20, 100, 8.0) if ctx.quick else (100, 500, 20.0)
    settings = ctx.fresh_settings()
    tag = load.run_tag()
    machines = load.machine_ids(tag + "l", machines_n)
    overview = ['{"action": "subscribe_overview", "interval_ms": 1000}']
    one_by_one = [orjson.dumps({"action": "subscribe", "machine_id": m}).decode() for m in machines]
    mp = multiprocessing.get_context("spawn")
    results: dict[str, dict[str, float]] = {}
    with services(ctx.work_dir, ctx.env(settings)) as svc:
        base = svc.start_api(
            MILLSTREAM_API_LIVE_MAX_SUBSCRIPTIONS=str(machines_n + 10),
            MILLSTREAM_API_LIVE_MAX_CONNECTIONS_PER_CREDENTIAL=str(clients + 10),
        )
        url = base.replace("http://", "ws://") + f"/live?api_key={ADMIN_KEY}"
        api = svc.psutil_process("api")
        producer = mp.Process(
            target=load.steady_produce,
            daemon=True,
            args=(
                settings.kafka_bootstrap_servers,
                settings.topics.readings,
                tag,
                float(machines_n),
                2 * (measure_s + 30),
                machines_n,
            ),
        )
        producer.start()
        try:
            for mode, messages in (("overview", overview), ("per-machine", one_by_one)):
                ctx.progress(f"{clients} clients, {machines_n} machines at 1 Hz: {mode}")
                results[mode] = asyncio.run(_phase(url, messages, clients, api, measure_s))
        finally:
            producer.terminate()
            producer.join(10)
    new, old = results["overview"], results["per-machine"]
    offered = clients * machines_n
    return [
        Figure(
            NAME,
            f"API CPU, {clients} clients following {machines_n} machines at 1 Hz (overview)",
            new["cpu_pct"],
            "% of a core",
            baseline_name="per-machine subscriptions",
            baseline_value=old["cpu_pct"],
            higher_is_better=False,
            note=f"overview: {new['frames_s']:.0f} frames/s carrying {new['values_s']:.0f} "
            f"machine values/s; per-machine: {old['frames_s']:.0f} frames/s; "
            f"{offered} values/s offered",
        ),
        Figure(
            NAME,
            "machine values delivered per second (overview)",
            new["values_s"],
            "values/s",
            baseline_name="per-machine subscriptions",
            baseline_value=old["values_s"],
            goal=f">= 0.9x the {offered} offered",
            met=new["values_s"] >= 0.9 * offered,
        ),
    ]
