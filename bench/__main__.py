"""``python -m bench [--quick] [--only NAME ...] [--out FILE]``: run the benchmark suite.

Starts Kafka and InfluxDB of its own (a temporary run directory, free loopback ports),
runs every scenario module of :mod:`bench.scenarios` with progress, writes the JSON result
and regenerates ``docs/benchmarks.md``. Exits 1 if any scenario failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shlex
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bench import machine, report, runner
from bench.core import ScenarioContext
from bench.stack import bench_servers
from infra.settings import InfraSettings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / ".millstream" / "bench" / "result.json"
DEFAULT_DOC = REPO / "docs" / "benchmarks.md"
# Hand-written findings (bottlenecks, profiles read) kept in the regenerated report.
FINDINGS = Path(__file__).resolve().parent / "findings.md"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller, shorter runs (a few minutes)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    p.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="Markdown report to regenerate")
    p.add_argument("--no-doc", action="store_true", help="do not regenerate the Markdown report")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=True, soft_wrap=True)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    found = runner.discover()
    if args.list:
        for d in found:
            print(d.name, "(import failed)" if d.module is None else "")
        return 0
    chosen = runner.select(found, args.only)
    command = " ".join(
        ["python -m bench", shlex.join(sys.argv[1:] if argv is None else argv)]
    ).strip()
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    t0 = time.monotonic()
    desc = machine.describe(REPO, InfraSettings().cache_dir)
    results: list[runner.ScenarioResult] = []
    base = REPO / ".millstream" / "bench"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=base) as tmp:
        run_dir = Path(tmp)
        console.print(f"Benchmark stack in {run_dir}")
        with (
            bench_servers(run_dir / "servers", console=console) as conn,
            Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[scenario]}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=console,
            ) as progress,
        ):
            task = progress.add_task("", total=len(chosen), scenario="")
            for item in chosen:
                progress.update(task, scenario=item.name, description="starting")
                work = run_dir / item.name
                work.mkdir()

                last_logged: list[tuple[float, str]] = [(0.0, "")]

                def say(
                    msg: str,
                    _name: str = item.name,
                    last_logged: list[tuple[float, str]] = last_logged,
                ) -> None:
                    # The bar always shows the latest; the log keeps a line per step and
                    # at most one every 10 s within a step.
                    progress.update(task, description=msg)
                    step = msg.split(":", 1)[0]
                    when, last_step = last_logged[0]
                    if step != last_step or time.monotonic() - when >= 10:
                        last_logged[0] = (time.monotonic(), step)
                        progress.console.log(f"[{_name}] {msg}")

                ctx = ScenarioContext(
                    connection=conn,
                    quick=args.quick,
                    work_dir=work,
                    progress=say,
                    servers_dir=run_dir / "servers",
                )
                result = runner.run_one(item, ctx)
                results.append(result)
                mark = "[green]ok" if result.status == "ok" else f"[red]FAILED: {result.error}"
                progress.console.log(f"[{item.name}] {mark}[/] in {result.duration_s:.0f} s")
                progress.advance(task)
    doc = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "started_at": started.strftime("%Y-%m-%d %H:%M:%S"),
        "duration_s": time.monotonic() - t0,
        "out": _rel(args.out),
        "machine": desc,
        "scenarios": [r.to_json() for r in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    console.print(f"Result: {args.out}")
    if not args.no_doc:
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        findings = FINDINGS.read_text() if FINDINGS.exists() else ""
        args.doc.write_text(report.render(doc, findings))
        console.print(f"Report: {args.doc}")
    failed = [r.name for r in results if r.status != "ok"]
    if failed:
        console.print(f"[red]{len(failed)} scenario(s) failed: {', '.join(failed)}")
        return 1
    return 0


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
