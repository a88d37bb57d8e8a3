"""``millstream query``: a machine's history (``GET /api/machines/{id}/readings``) as CSV
or JSON.

The API answers at most ``limit`` points per request and says ``truncated``; the command
asks again from just after the last point until it has the whole range.

CSV: a header ``machine_id,ts,<field>,...`` (fields in the order first seen), one row per
point, empty cells where a point has no value; ``millstream import`` reads it back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx
import orjson

from cli.connection import Api, detail_of
from cli.errors import CliError


@dataclass(frozen=True, slots=True)
class QueryOptions:
    machine: str
    start: str = "-1h"
    stop: str = "now"
    fields: str | None = None
    window: str | None = None
    fn: str | None = None
    page_size: int | None = None


def _after(ts: str) -> str:
    """The instant 1 ms after ``ts`` (the API's points are millisecond-precise)."""
    moment = datetime.fromisoformat(ts.replace("Z", "+00:00")) + timedelta(milliseconds=1)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pages(client: httpx.Client, options: QueryOptions) -> Iterator[dict[str, Any]]:
    """Each answer of the API for the range, the first from ``start``; the range is fixed
    by the first answer's ``start``/``stop`` (relative times are resolved once)."""
    params: dict[str, Any] = {"start": options.start, "stop": options.stop}
    for name in ("fields", "window", "fn"):
        if getattr(options, name) is not None:
            params[name] = getattr(options, name)
    if options.page_size is not None:
        params["limit"] = options.page_size
    path = f"/api/machines/{options.machine}/readings"
    while True:
        try:
            answer = client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise CliError(f"{client.base_url}: cannot reach the API ({exc})") from exc
        if answer.status_code != 200:
            raise CliError(f"{path}: {detail_of(answer)}")
        body: dict[str, Any] = answer.json()
        yield body
        points = body.get("points") or []
        if not body.get("truncated") or not points:
            return
        params["start"] = _after(str(points[-1]["ts"]))
        params["stop"] = body["stop"]


def fetch(api: Api, options: QueryOptions) -> dict[str, Any]:
    """The whole range as one document in the API's shape, ``truncated`` false."""
    with api.client() as client:
        first: dict[str, Any] | None = None
        points: list[dict[str, Any]] = []
        for page in pages(client, options):
            first = first or page
            points.extend(page.get("points") or [])
    if first is None:
        raise RuntimeError("expected first is not None")
    return {**first, "truncated": False, "points": points}


def write_json(document: dict[str, Any], out: TextIO) -> None:
    out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    out.write("\n")


def write_csv(document: dict[str, Any], out: TextIO) -> None:
    columns: dict[str, None] = {}
    for point in document["points"]:
        for name in point:
            if name != "ts":
                columns.setdefault(name, None)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["machine_id", "ts", *columns])
    machine = document["machine_id"]
    for point in document["points"]:
        writer.writerow([machine, point["ts"], *(_cell(point.get(c)) for c in columns)])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def render(document: dict[str, Any], fmt: str) -> str:
    buffer = io.StringIO()
    (write_csv if fmt == "csv" else write_json)(document, buffer)
    return buffer.getvalue()
