"""``millstream import FILE``: a historian export into Millstream through the API.

Two passes over the file: the first checks every row (a bad row stops the import before
anything is sent, naming its line) and counts them for the progress bar; the second posts
batches to ``POST /api/readings``, so the readings travel through Kafka like any other.
A ``201`` means Kafka has the batch; ``429`` and ``503`` are retried after ``Retry-After``;
any other refusal stops the import, naming the line of the row the API pointed at and how
many rows went in before it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from cli.connection import Api, detail_of
from cli.errors import CliError
from cli.historian import (
    Defaults,
    Format,
    Precision,
    Row,
    RowError,
    csv_rows,
    detect_format,
    lp_rows,
)

DEFAULT_BATCH = 5_000
_RETRIES = 8
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class ImportOptions:
    path: Path
    format: Format | None = None  # None: guessed from the first line
    defaults: Defaults = field(default_factory=Defaults)
    precision: Precision = "auto"
    batch: int = DEFAULT_BATCH
    dry_run: bool = False


def rows(options: ImportOptions) -> Iterator[Row]:
    """Every row of the file, checked; :class:`RowError` at the first bad one."""
    try:
        with options.path.open(encoding="utf-8-sig", newline="") as handle:
            fmt = options.format or detect_format(handle.readline())
            handle.seek(0)
            if fmt == "csv":
                yield from csv_rows(handle, options.defaults)
            else:
                yield from lp_rows(handle, options.defaults, options.precision)
    except UnicodeDecodeError as exc:
        raise CliError(f"{options.path}: not UTF-8 text ({exc})") from exc
    except OSError as exc:
        raise CliError(f"{options.path}: cannot read it ({exc.strerror})") from exc


def batches(options: ImportOptions) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows(options):
        batch.append(row)
        if len(batch) >= options.batch:
            yield batch
            batch = []
    if batch:
        yield batch


def check(options: ImportOptions) -> int:
    """Pass one: the number of rows, or :class:`CliError` naming the first bad line."""
    try:
        return sum(1 for _ in rows(options))
    except RowError as exc:
        raise CliError(f"{options.path}: {exc}; nothing was imported") from exc


def post_batch(client: httpx.Client, batch: list[Row], *, done: int, path: Path) -> None:
    body = orjson.dumps([row.reading for row in batch])
    for _ in range(_RETRIES):
        try:
            answer = client.post(
                "/api/readings", content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise CliError(
                f"{client.base_url}: {exc}; {done} rows were imported, the batch from line "
                f"{batch[0].line} is not known to be"
            ) from exc
        if answer.status_code == 201:
            return
        if answer.status_code in (429, 503):
            time.sleep(min(30.0, float(answer.headers.get("Retry-After", "1") or 1)))
            continue
        detail = detail_of(answer)
        at = f"line {_line_of(detail, batch)}: "
        raise CliError(
            f"{path}: {at}the API refused it ({detail}); {done} rows before it were imported"
        )
    raise CliError(f"{path}: the API stayed busy; {done} rows were imported")


def _line_of(detail: str, batch: list[Row]) -> str:
    """The file line of the row a ``[i].field`` detail names (the batch's first line and
    last line when it names none)."""
    where = _INDEX.search(detail)
    if where is not None and int(where.group(1)) < len(batch):
        return str(batch[int(where.group(1))].line)
    return f"{batch[0].line}-{batch[-1].line}"


def run_import(api: Api, options: ImportOptions, *, console: Console) -> int:
    """Check, then post; return the number of rows imported."""
    total = check(options)
    console.print(f"{options.path}: {total} rows checked")
    if options.dry_run or total == 0:
        return 0
    done = 0
    columns = (
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with (
        api.client() as client,
        Progress(*columns, console=console) as progress,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-post") as poster,
    ):
        task = progress.add_task("import", total=total)
        # One request in flight while the next batch is read: in order, and the reading of
        # the file overlaps the API's work.
        pending: tuple[Future[None], int] | None = None
        for batch in batches(options):
            if pending is not None:
                pending[0].result()
                done += pending[1]
                progress.update(task, completed=done)
            future = poster.submit(post_batch, client, batch, done=done, path=options.path)
            pending = (future, len(batch))
        if pending is not None:
            pending[0].result()
            done += pending[1]
            progress.update(task, completed=done)
    return done
