"""``millstream tail | query | import``: the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from cli.connection import Api, resolve_api
from cli.errors import CliError
from cli.historian import Defaults
from cli.importer import DEFAULT_BATCH, ImportOptions, run_import
from cli.query import QueryOptions, fetch, render
from cli.tail import Tail, TailOptions


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", help="the API (default: MILLSTREAM_URL, else http://127.0.0.1:8080)"
    )
    auth = common.add_mutually_exclusive_group()
    auth.add_argument("--api-key", help="an API key (default: MILLSTREAM_API_KEY)")
    auth.add_argument("--token", help="a login token (default: MILLSTREAM_TOKEN)")
    auth.add_argument("--user", help="log in as this user (asks for the password)")
    common.add_argument(
        "--password-stdin", action="store_true", help="with --user: read the password from stdin"
    )
    common.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour output"
    )
    return common


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="millstream", description="A terminal client of the Millstream API."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common()

    tail = sub.add_parser("tail", parents=[common], help="follow live readings and alarms")
    tail.add_argument(
        "-m", "--machine", action="append", default=[], help="a machine's readings (repeatable)"
    )
    tail.add_argument("--sensors", type=_csv_list, default=(), help="e.g. temperature,vibration")
    tail.add_argument(
        "-p",
        "--plant",
        action="append",
        default=[],
        help="a plant's readings (an overview) and alarms (repeatable)",
    )
    tail.add_argument(
        "--interval-ms", type=int, default=1000, help="with --plant: overview rate (default 1000)"
    )
    tail.add_argument("--no-readings", action="store_true", help="with --plant: alarms only")
    tail.add_argument(
        "--alarms", action="store_true", help="every alarm (the default with no --machine)"
    )
    tail.add_argument("--no-alarms", action="store_true", help="readings only")
    tail.add_argument("--aggregates", action="store_true", help="also window aggregates")
    tail.add_argument("--json", action="store_true", help="one frame per line, for piping")
    tail.add_argument("--max-backoff", type=float, default=30.0, help="seconds (default 30)")

    query = sub.add_parser("query", parents=[common], help="a machine's history as CSV or JSON")
    query.add_argument("machine", help="machine id, e.g. 42")
    query.add_argument("--start", default="-1h", help="-1h, -7d, or RFC 3339 (default -1h)")
    query.add_argument("--stop", default="now", help="now, relative or RFC 3339 (default now)")
    query.add_argument("--fields", help="comma-separated, e.g. temperature_c,power_kw")
    query.add_argument("--window", help="aggregate window, e.g. 1m, 1h")
    query.add_argument("--fn", help="with --window: mean (default), max, min, ...")
    query.add_argument("--format", choices=("csv", "json"), default="csv")
    query.add_argument("--page-size", type=int, help="points per request (the API's default)")
    query.add_argument("-o", "--output", type=Path, help="write here instead of stdout")

    imp = sub.add_parser(
        "import", parents=[common], help="a historian export (CSV or line protocol)"
    )
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", choices=("csv", "lp"), help="default: guessed from line 1")
    imp.add_argument("--machine", help="machine id for rows that name none")
    imp.add_argument("--plant", default="", help="plant for rows that name none")
    imp.add_argument("--line", default="", help="line for rows that name none")
    imp.add_argument(
        "--precision",
        choices=("auto", "s", "ms", "us", "ns"),
        default="auto",
        help="line protocol times (default: guessed from their size)",
    )
    imp.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="rows per request")
    imp.add_argument("--dry-run", action="store_true", help="check every row, send nothing")
    return parser


def _console(color: str, *, stderr: bool) -> Console:
    force = {"always": True, "never": False}.get(color)
    return Console(
        stderr=stderr,
        force_terminal=force,
        no_color=color == "never",
        soft_wrap=True,
        highlight=False,
    )


def _api(args: argparse.Namespace) -> Api:
    return resolve_api(
        url=args.url,
        api_key=args.api_key,
        token=args.token,
        user=args.user,
        password_stdin=args.password_stdin,
    )


def _run(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.command == "import":
        if args.batch < 1:
            raise CliError("--batch: must be at least 1")
        options = ImportOptions(
            path=args.file,
            format=args.format,
            defaults=Defaults(machine=args.machine, plant=args.plant, line=args.line),
            precision=args.precision,
            batch=args.batch,
            dry_run=args.dry_run,
        )
        api = _api(args)
        count = run_import(api, options, console=err)
        err.print(f"{count} readings imported")
        return 0
    api = _api(args)
    if args.command == "query":
        document = fetch(
            api,
            QueryOptions(
                machine=args.machine,
                start=args.start,
                stop=args.stop,
                fields=args.fields,
                window=args.window,
                fn=args.fn,
                page_size=args.page_size,
            ),
        )
        text = render(document, args.format)
        if args.output is not None:
            args.output.write_text(text)
            err.print(f"{len(document['points'])} points written to {args.output}")
        else:
            sys.stdout.write(text)
        return 0
    machines = tuple(args.machine)
    tail_options = TailOptions(
        machines=machines,
        sensors=args.sensors,
        plants=tuple(args.plant),
        alarms=not args.no_alarms,
        all_alarms=args.alarms,
        aggregates=args.aggregates,
        plant_readings=not args.no_readings,
        interval_ms=args.interval_ms,
        json=args.json,
        max_backoff_s=args.max_backoff,
    )
    asyncio.run(Tail(api, tail_options, out=out, err=err).run())
    return 0


def _relative_times(argv: list[str]) -> list[str]:
    """``--start -1h`` as ``--start=-1h``: argparse takes ``-1h`` for an option otherwise."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in ("--start", "--stop") and arg.startswith("-"):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(_relative_times(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    out = _console(args.color, stderr=False)
    err = _console(args.color, stderr=True)
    try:
        return _run(args, out, err)
    except CliError as exc:
        err.print(Text.assemble(("error: ", "bold red"), str(exc)))
        return 1
    except KeyboardInterrupt:
        return 130
