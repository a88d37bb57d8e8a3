"""Growth: the end-to-end ingest path at 1x, 4x and 16x the number of simulated machines.

Each step is a full :func:`bench.scenarios.e2e_ingest.run_load` (fresh topics, simulator,
connector, worker, loss counted in InfluxDB). The baseline of each step is the offered
load: readings/s stored against readings/s the machines' poll interval asks for, so a ratio
below 1 shows where the path stops keeping up. Cost is CPU per 1,000 readings/s.
"""

from __future__ import annotations

from typing import Any

from bench.core import Figure, ScenarioContext
from bench.scenarios.e2e_ingest import run_load

NAME = "growth"
TITLE = "Throughput, lag and CPU at 1x, 4x and 16x the machines"


# The processes that make readings, and those that carry and store them.
_SOURCE = ("simulator", "connector")


def limiting_stage(r: dict[str, Any], cpu: dict[str, float]) -> str:
    """The stage that held a step back: none if it stored 95% of the offered load; else the
    busiest process of the side that fell further short: the machines' side (the connector
    produced a smaller share of the offered load than the worker stored of what it
    produced), or the side that carries and stores."""
    offered, produced = r["offered_readings_s"], r["produced_readings_s"]
    if r["stored_readings_s"] >= 0.95 * offered:
        return "none (kept up)"
    source = produced / offered < r["stored_readings_s"] / max(produced, 1e-9)
    side = {n: v for n, v in cpu.items() if n.startswith(_SOURCE) == source} or cpu
    busiest = max(side, key=lambda n: side[n])
    return f"{busiest} ({side[busiest]:.0f}% of a core)"


def run(ctx: ScenarioContext) -> list[Figure]:
    base, poll_s, duration_s = (4, 0.1, 15.0) if ctx.quick else (10, 0.05, 30.0)
    figures: list[Figure] = []
    cpu_per_k: dict[str, float] = {}
    for factor in (1, 4, 16):
        machines = base * factor
        ctx.progress(f"{factor}x: {machines} machines")
        r = run_load(
            ctx,
            machines=machines,
            poll_interval_s=poll_s,
            duration_s=duration_s,
            label=f"x{factor}",
        )
        stored = r["stored_readings_s"]
        lag_s = r["lag_p50"] / stored if stored else 0.0
        cpu = {n: c["cpu_pct"] for n, c in r["costs"].items()}
        cpu_per_k[f"{factor}x"] = sum(cpu.values()) / max(stored / 1000, 1e-9)
        tags = r["values_per_reading"]
        figures.append(
            Figure(
                NAME,
                f"{factor}x ({machines} machines of {tags} tags) readings/s stored",
                stored,
                "readings/s",
                baseline_name="offered readings/s",
                baseline_value=r["offered_readings_s"],
                goal=">= 0.95x offered",
                met=stored >= 0.95 * r["offered_readings_s"],
                note=(
                    f"{stored * tags:.0f} points/s; median lag {r['lag_p50']:.0f} records "
                    f"(~{lag_s * 1000:.0f} ms), loss {r['loss']}; "
                    f"limiting stage: {limiting_stage(r, cpu)}; CPU "
                    + ", ".join(f"{n} {v:.0f}%" for n, v in cpu.items())
                ),
                extra={"run": {k: v for k, v in r.items() if k != "profiles"}},
            )
        )
        figures.append(
            Figure(
                NAME, f"{factor}x loss", float(r["loss"]), "readings", goal="0", met=r["loss"] == 0
            )
        )
    figures.append(
        Figure(
            NAME,
            "CPU per 1,000 readings/s at 16x",
            cpu_per_k["16x"],
            "% of a core",
            baseline_name="same at 1x",
            baseline_value=cpu_per_k["1x"],
            higher_is_better=False,
            note="below 1 means the cost per reading grows with load; the busiest process "
            "in the 16x step is the next bottleneck",
        )
    )
    return figures
