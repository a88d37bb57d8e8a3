"""``python -m pipeline worker``: run one pipeline worker until SIGINT or SIGTERM.

Configuration comes from ``MILLSTREAM_*`` environment variables (see
:class:`pipeline.settings.PipelineSettings`). Faust's worker handles the signals: it stops
the agent, commits the offsets of the batches already written, and leaves the group.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence

from contracts.errors import ConfigError
from contracts.settings import load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="consume readings and write them to InfluxDB")
    worker.add_argument(
        "--loglevel", "-l", default=None, help="log level (default MILLSTREAM_PIPELINE_LOG_LEVEL)"
    )
    return parser


# Allocations between young collections, young collections between middle ones, middle
# ones between full ones (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect garbage far less often than CPython's defaults.

    A worker keeps many objects alive for about a second (a fetch's readings, decoded once
    for both paths, the batches waiting for InfluxDB), so with the defaults they survive
    into the oldest generation and trigger full collections: under 100,000 points/s they
    ran about once a second, 130-360 ms each, freeing nothing (the objects are not
    cycles), and made the alarms' worst latencies. Objects alive at start-up (modules,
    the app) are frozen out of every collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import faust

    from pipeline.app import create_app
    from pipeline.settings import PipelineSettings

    try:
        settings = load_settings(PipelineSettings)
        app = create_app(settings)
    except ConfigError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return 2
    worker = faust.Worker(app, loglevel=args.loglevel or settings.pipeline_log_level)
    # Faust's start-up spinner sets the root logger to DEBUG (so that every record turns
    # it), which makes every library's debug call build a log record on the hot path.
    worker.spinner = None
    tune_gc()
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
