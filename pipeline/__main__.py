"""``python -m pipeline worker``: run one pipeline worker until SIGINT or SIGTERM.

Configuration comes from ``MILLSTREAM_*`` environment variables (see
:class:`pipeline.settings.PipelineSettings`). Faust's worker handles the signals: it stops
the agent, commits the offsets of the batches already written, and leaves the group.
"""

from __future__ import annotations

import argparse
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
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
