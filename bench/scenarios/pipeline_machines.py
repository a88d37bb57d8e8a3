"""The worker with default settings (windows and alarms on) as the machine count grows:
50, 500 and 5,000 machines, each against the bare aiokafka -> orjson -> line protocol ->
InfluxDB stage over the same topic in the same run (:mod:`.pipeline_throughput` holds the
producer, the bare stage and the worker launch).

At each size, a fresh readings topic gets the same number of readings of 5 sensors,
round-robin over the machines, each machine reporting once a second of reading time, so
the windows closed and aggregates written per reading are the same at every size: what
grows is the number of machines, not the work per reading. With 50 and 500 machines the
readings span more than the longest window (five minutes, hopping every minute), so every
machine's windows open, close and are dropped many times; at 5,000 machines they span
40 s. Both rates run from the moment the consumer group assigned the stage its partitions
to its last write (bare) or the commit of the last reading (worker): the worker's first
commit comes only after much of the topic was read, so it cannot start the clock.

Memory per machine: the worker's peak RSS at that size, less the peak RSS of the same
worker with windows and alarms off over the largest size's topic, divided by the machine
count. The stateless worker holds no per-machine state, so the difference is what the
windows and alarm state (and their tables) cost; it stays flat per machine when state grows
linearly with the machines and is bounded in time.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bench.core import Figure, ScenarioContext
from bench.scenarios.pipeline_throughput import SENSORS, _bare_stage, _produce, worker_run

NAME = "pipeline_machines"
TITLE = "Pipeline worker with windows and alarms at 50, 500 and 5,000 machines vs the bare stage"

SIZES = (50, 500, 5_000)
QUICK_SIZES = (50, 1_000)
EVERY_MS = 1_000
GOAL_RATIO = 0.5


def _size_name(machines: int) -> str:
    return f"{machines:,} machines"


def run(ctx: ScenarioContext) -> list[Figure]:
    sizes = QUICK_SIZES if ctx.quick else SIZES
    count = 30_000 if ctx.quick else 200_000
    timeout_s = 300.0 if ctx.quick else 600.0
    profile_dir = os.environ.get("MILLSTREAM_BENCH_PROFILE_DIR")
    figures: list[Figure] = []
    peaks: dict[int, int] = {}
    stateless_peak = 0
    for machines in sizes:
        settings = ctx.fresh_settings()
        topic = settings.topics.readings
        ctx.progress(f"{_size_name(machines)}: producing {count} readings")
        asyncio.run(
            _produce(
                settings.kafka_bootstrap_servers,
                topic,
                count,
                machines,
                span_ms=count // machines * EVERY_MS,
            )
        )
        ctx.progress(f"{_size_name(machines)}: bare aiokafka stage")
        bare = asyncio.run(_bare_stage(settings, count, timeout_s))
        ctx.progress(f"{_size_name(machines)}: worker with windows and alarms")
        profile = (
            Path(profile_dir) / f"worker-machines-{machines}.txt"
            if profile_dir and not ctx.quick
            else None
        )
        worker = worker_run(
            ctx, settings, count, timeout_s, stateful=True, profile_to=profile, profile_s=15
        )
        peaks[machines] = worker.peak_rss
        ratio = worker.points_per_s / bare
        figures.append(
            Figure(
                scenario=NAME,
                name=f"worker with windows and alarms, {_size_name(machines)}",
                value=worker.points_per_s,
                unit="points/s",
                baseline_name="bare aiokafka stage",
                baseline_value=bare,
                goal=f">= {GOAL_RATIO}x bare",
                met=ratio >= GOAL_RATIO,
                note=f"{count} readings x {len(SENSORS)} sensors over {machines} machines; "
                f"worker peak RSS {worker.peak_rss / 2**20:.0f} MiB; from the join: first "
                f"reading read {worker.marks['read']:.1f} s, first commit "
                f"{worker.marks['committed']:.1f} s, last {worker.marks['done']:.1f} s",
                extra={
                    "worker_s_since_join": worker.marks,
                    "from_first_commit_points_per_s": worker.from_first_commit,
                },
            )
        )
        if machines == sizes[-1]:
            ctx.progress(f"{_size_name(machines)}: worker stateless (memory baseline)")
            stateless = worker_run(ctx, settings, count, timeout_s, stateful=False)
            stateless_peak = stateless.peak_rss
    for machines in sizes:
        growth = max(peaks[machines] - stateless_peak, 0)
        figures.append(
            Figure(
                scenario=NAME,
                name=f"worker memory per machine, {_size_name(machines)}",
                value=growth / machines / 1024,
                unit="KiB/machine",
                note=f"(peak RSS {peaks[machines] / 2**20:.0f} MiB with windows and alarms - "
                f"{stateless_peak / 2**20:.0f} MiB stateless) / {machines} machines",
                extra={"peak_rss": peaks[machines], "stateless_peak_rss": stateless_peak},
            )
        )
    return figures
