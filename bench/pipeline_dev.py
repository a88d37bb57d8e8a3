"""Run one pipeline scenario (throughput or alarm latency) on a private stack.

``python -m bench.pipeline_dev [--quick] [--scenario NAME] [--run-dir DIR]``: starts Kafka
and InfluxDB under ``DIR`` (kept between runs for a warm start), runs the scenario, prints
its figures and stops the servers. A development aid; ``python -m bench`` runs the suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from bench.core import ScenarioContext
from bench.scenarios import pipeline_alarm_latency, pipeline_throughput
from infra.servers import LocalServers
from infra.settings import InfraSettings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline_dev")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--scenario",
        choices=("pipeline_throughput", "pipeline_alarm_latency"),
        default="pipeline_throughput",
    )
    parser.add_argument(
        "--run-dir", type=Path, default=Path(tempfile.gettempdir()) / "pipeline-dev-stack"
    )
    args = parser.parse_args()
    servers = LocalServers(
        InfraSettings(run_dir=args.run_dir, topic_prefix="dev", stream_partitions=6),
        console=Console(stderr=True),
    )
    connection = servers.up()
    work_dir = args.run_dir / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        ctx = ScenarioContext(
            connection=connection,
            quick=args.quick,
            work_dir=work_dir,
            progress=lambda text: print(f"-- {text}", file=sys.stderr, flush=True),
        )
        scenario = {
            "pipeline_throughput": pipeline_throughput,
            "pipeline_alarm_latency": pipeline_alarm_latency,
        }[args.scenario]
        for figure in scenario.run(ctx):
            ratio = f"{figure.ratio:.2f}x" if figure.ratio else "-"
            print(
                f"{figure.name}: {figure.value:,.0f} {figure.unit} vs {figure.baseline_name} "
                f"{figure.baseline_value or 0:,.0f} -> {ratio} {figure.note}",
                flush=True,
            )
    finally:
        servers.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
