"""Every query, command and the pandas example of docs/analysts.md, taken from the page
itself and run against the session's real InfluxDB on a known history
(:mod:`analyst_data`): Flux through influxdb-client, InfluxQL through ``/query?db=<bucket>``
on the telemetry, aggregates and alarms buckets, shell commands through bash.

Each query runs twice: as written (it must answer), and narrowed to the history's own plant
(a filter added after each ``range`` in Flux, to each ``WHERE`` in InfluxQL), where its
answer is known exactly whatever else the session wrote to the shared buckets.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from analyst_data import DAY, HOUR, MIN, AnalystData, make_data
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from contracts.timefmt import format_ts
from infra.servers import LocalServers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "analysts.md"
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Section:
    number: int
    title: str
    flux: str | None
    influxql: str | None


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def ready_queries() -> list[Section]:
    ready = DOC.read_text().split("## Ready queries", 1)[1].split("\n## ", 1)[0]
    sections = []
    for head, body in re.findall(r"### (\d+\..*?)\n(.*?)(?=\n### |\Z)", ready, flags=re.S):
        number, title = head.split(". ", 1)
        flux, influxql = _blocks(body, "flux"), _blocks(body, "influxql")
        assert len(flux) <= 1 and len(influxql) <= 1, head
        sections.append(
            Section(
                int(number), title, flux[0] if flux else None, influxql[0] if influxql else None
            )
        )
    return sections


SECTIONS = ready_queries()


@pytest.fixture(scope="module")
def data(local_servers: LocalServers) -> AnalystData:
    written = make_data()
    c = local_servers.connection()
    assert (c.influx_bucket, c.influx_aggregates_bucket, c.influx_alarms_bucket) == (
        "telemetry",
        "aggregates",
        "alarms",
    ), "the page names the default buckets"
    with InfluxDBClient(url=c.influx_url, token=c.influx_token, org=c.influx_org) as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        for bucket, lines in (
            ("telemetry", written.telemetry),
            ("aggregates", written.aggregates),
            ("alarms", written.alarms),
        ):
            write.write(bucket=bucket, record="\n".join(lines), write_precision="ms")
    return written


@pytest.fixture(scope="module")
def influx(local_servers: LocalServers) -> Iterator[InfluxDBClient]:
    c = local_servers.connection()
    with InfluxDBClient(url=c.influx_url, token=c.influx_token, org=c.influx_org) as client:
        yield client


def run_flux(client: InfluxDBClient, query: str) -> list[Row]:
    tables = client.query_api().query(query)
    return [
        {k: v for k, v in record.values.items() if k not in ("result", "table")}
        for table in tables
        for record in table.records
    ]


def run_influxql(local_servers: LocalServers, query: str) -> list[Row]:
    c = local_servers.connection()
    db = re.match(r"-- db=(\w+)\n", query)
    assert db, f"an InfluxQL query starts with '-- db=<bucket>': {query!r}"
    response = httpx.get(
        f"{c.influx_url}/query",
        params={"db": db.group(1), "q": query},
        headers={"Authorization": f"Token {c.influx_token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert "error" not in result, result
    rows = []
    for series in result.get("series", []):
        for values in series["values"]:
            rows.append(
                {**series.get("tags", {}), **dict(zip(series["columns"], values, strict=True))}
            )
    return rows


def narrow_flux(query: str, plant: str) -> str:
    return re.sub(
        r"(\|> range\([^)]*\)\n)", rf'\1  |> filter(fn: (r) => r.plant == "{plant}")\n', query
    )


def narrow_influxql(query: str, plant: str) -> str:
    return query.replace("WHERE ", f"WHERE \"plant\" = '{plant}' AND ")


def _t(ms: int) -> str:
    return format_ts(ms).replace(".000Z", "Z")


def expected(number: int, d: AnalystData, rows: list[Row], lang: str) -> None:
    """The exact answer of section ``number`` on the history ``d``, narrowed to its plant."""

    def by(key: str) -> dict[str, Row]:
        return {r[key]: r for r in rows}

    def ts(row: Row) -> str:
        t = row.get("_time", row.get("time"))
        return t if isinstance(t, str) else t.strftime("%Y-%m-%dT%H:%M:%SZ")

    value = "_value" if lang == "flux" else None
    a, b = d.a, d.b
    if number == 1:
        got = sorted((r["machine_id"], ts(r), r[value or "max"]) for r in rows)
        want = sorted(
            (m, _t(d.t0 + h * HOUR), 60.59 + 10 * h + 5 * i)
            for i, m in enumerate((a, b))
            for h in (0, 1)
        )
        assert [(m, t) for m, t, _ in got] == [(m, t) for m, t, _ in want]
        assert all(math.isclose(g[2], w[2]) for g, w in zip(got, want, strict=True))
    elif number == 2:
        assert {m: r["availability_pct"] for m, r in by("machine_id").items()} == {a: 75, b: 100}
    elif number == 3:
        energy = {m: r["energy_kwh"] for m, r in by("machine_id").items()}
        assert energy.keys() == {a, b}
        assert math.isclose(energy[a], 12 * 119 / 60) and math.isclose(energy[b], 6 * 119 / 60)
    elif number == 4:
        [row] = rows
        assert row["machine_id"] == a and ts(row) == _t(d.t0 // DAY * DAY)
        assert (row["min"], row["max"]) == (59.0, 71.59)
    elif number == 5:
        latest = {m: r[value or "last"] for m, r in by("machine_id").items()}
        assert latest == {a: 70.59, b: 75.59}
    elif number == 6:
        [row] = rows
        assert math.isclose(row["alarms_per_10min"], 6 / (7 * 24 * 6), rel_tol=0.01)
    elif number == 7:
        [row] = rows
        assert row["peak_per_10min"] == 4
        if lang == "flux":
            assert row["flood_pct"] == 0.0
    elif number == 8:
        top = [(r["machine_id"], r["sensor"], r["raised"]) for r in rows]
        assert top[0] == (a, "temperature_c", 4)
        assert sorted(top[1:]) == sorted([(b, "temperature_c", 1), (b, "vibration_mm_s", 1)])
    elif number == 9:
        [row] = rows
        assert (row["machine_id"], row["sensor"], row["raised_in_minute"]) == (
            a,
            "temperature_c",
            4,
        )
        assert ts(row) == _t(d.t0 + 10 * MIN)
    elif number == 10:
        [row] = rows
        assert (row["machine_id"], row["sensor"]) == (b, "vibration_mm_s")
        if lang == "flux":
            assert 47.9 < row["active_h"] < 49
    elif number == 11:
        [row] = rows
        assert row["mean_ack_s"] == (4 * 5 + 60) / 5
    elif number == 12:
        assert {r["severity"] for r in rows} == {"high"}
        assert sum(r["raised"] for r in rows) == 6
    else:
        raise AssertionError(f"section {number}: no expected answer; add one")


def test_the_page_has_ten_ready_queries_and_influxql_on_three_buckets() -> None:
    assert len(SECTIONS) >= 10
    assert all(s.flux for s in SECTIONS)
    dbs = {re.match(r"-- db=(\w+)", s.influxql).group(1) for s in SECTIONS if s.influxql}  # type: ignore[union-attr]
    assert dbs == {"telemetry", "aggregates", "alarms"}


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: f"{s.number}-flux")
def test_flux_query(section: Section, data: AnalystData, influx: InfluxDBClient) -> None:
    assert section.flux is not None
    assert run_flux(influx, section.flux), "as written, it answers nothing"
    expected(section.number, data, run_flux(influx, narrow_flux(section.flux, data.plant)), "flux")


@pytest.mark.parametrize(
    "section", [s for s in SECTIONS if s.influxql], ids=lambda s: f"{s.number}-influxql"
)
def test_influxql_query(section: Section, data: AnalystData, local_servers: LocalServers) -> None:
    assert section.influxql is not None
    assert run_influxql(local_servers, section.influxql), "as written, it answers nothing"
    narrowed = run_influxql(local_servers, narrow_influxql(section.influxql, data.plant))
    expected(section.number, data, narrowed, "influxql")


def _shell_env(local_servers: LocalServers) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env["MILLSTREAM_RUN_DIR"] = str(local_servers.run_dir)
    return env


def _python() -> str:
    return ".venv/bin/python" if (ROOT / ".venv/bin/python").exists() else sys.executable


def test_connecting_commands(data: AnalystData, local_servers: LocalServers) -> None:
    """The page's curl calls, after its ``export $(... infra env)``, through bash."""
    text = DOC.read_text().split("## Connecting", 1)[1].split("\n## ", 1)[0]
    blocks = [b.replace(".venv/bin/python", _python()) for b in _blocks(text, "sh")]
    assert len(blocks) == 3 and blocks[0].startswith("export $(")
    outputs = []
    for block in blocks[1:]:
        done = subprocess.run(
            ["bash", "-ec", blocks[0] + block],
            cwd=ROOT,
            env=_shell_env(local_servers),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        outputs.append(done.stdout)
    flux_csv, influxql_json = outputs
    assert ",_value," in flux_csv.splitlines()[0] and data.a in flux_csv
    assert '"results"' in influxql_json and data.a in influxql_json


def test_pandas_example(data: AnalystData, local_servers: LocalServers, tmp_path: Path) -> None:
    """The example as a script run the way the page says, and its frames checked."""
    text = DOC.read_text().split("## pandas", 1)[1]
    [code] = _blocks(text, "python")
    command = re.search(r"`(env \$\(.*? hourly\.py)`", text)
    assert command, "the page says how to run the example"
    script = tmp_path / "hourly.py"
    script.write_text(code)
    line = command.group(1).replace(".venv/bin/python", _python()).replace("hourly.py", str(script))
    done = subprocess.run(
        ["bash", "-ec", line],
        cwd=ROOT,
        env=_shell_env(local_servers),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "machine_id" in done.stdout

    namespace: dict[str, Any] = {}
    c = local_servers.connection()
    env = {
        "MILLSTREAM_INFLUX_URL": c.influx_url,
        "MILLSTREAM_INFLUX_TOKEN": c.influx_token,
        "MILLSTREAM_INFLUX_ORG": c.influx_org,
    }
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        for key, value in env.items():
            patch.setenv(key, value)
        exec(compile(code, "hourly.py", "exec"), namespace)  # noqa: S102 - the page's own code
    import pandas as pd

    hourly = namespace["hourly_max"]
    first_hour = pd.Timestamp(data.t0, unit="ms", tz="UTC")
    assert math.isclose(hourly.loc[(data.a, first_hour)], 60.59)
    summary = namespace["summary"].loc[(data.plant, data.b)]
    assert (summary["max_c"], summary["mean_kw"], summary["readings"]) == (75.59, 6.0, 120)
