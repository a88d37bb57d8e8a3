"""The `influx` CLI provisioned beside `influxd`, pointed at the session's InfluxDB the way
`python -m infra env` tells (INFLUX_HOST, INFLUX_TOKEN, INFLUX_ORG): `influx query` answers
Flux; InfluxQL answers on `/query?db=<bucket>` for the telemetry, aggregates and alarms
buckets through InfluxDB's virtual DBRP mappings (`influx v1 shell` speaks to the same
endpoint, interactively)."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from contracts.timefmt import now_ms
from infra.influx_cli_dist import influx_cli_path
from infra.servers import Connection, LocalServers
from infra.settings import InfraSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def machine(stack_connection: Connection) -> str:
    """A machine with three readings, a window aggregate and an alarm, written a minute ago."""
    return _write_machine(stack_connection, f"cli-{uuid.uuid4().hex[:8]}")


def _write_machine(stack_connection: Connection, machine: str) -> str:
    ts = now_ms() - 60_000
    c = stack_connection
    with InfluxDBClient(url=c.influx_url, token=c.influx_token, org=c.influx_org) as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        write.write(
            c.influx_bucket,
            record=[
                f"readings,machine_id={machine},plant=hall-b,line=3 temperature_c={t} {ts + i}"
                for i, t in enumerate((60.0, 70.0, 80.0))
            ],
            write_precision=WritePrecision.MS,
        )
        write.write(
            c.influx_aggregates_bucket,
            record=f"aggregates,machine_id={machine},plant=hall-b,line=3,sensor=temperature_c,"
            f"window=1m count=3i,min=60,max=80,mean=70,last=80 {ts}",
            write_precision=WritePrecision.MS,
        )
        write.write(
            c.influx_alarms_bucket,
            record=f"alarms,machine_id={machine},plant=hall-b,line=3,sensor=temperature_c,"
            f'rule=high,severity=high event="raised",state="active_unacknowledged",'
            f'value=91.5,threshold=85,message="overheat" {ts}',
            write_precision=WritePrecision.MS,
        )
    return machine


@pytest.fixture(scope="module")
def infra_env(local_servers: LocalServers) -> tuple[Path, dict[str, str]]:
    """What `python -m infra env` tells of the session's stack: the CLI (on stderr) and
    the INFLUX_* lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILLSTREAM_", "INFLUX_"))}
    env["MILLSTREAM_RUN_DIR"] = str(local_servers.run_dir)
    done = subprocess.run(
        [sys.executable, "-m", "infra", "env"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines())
    influx = {k: v for k, v in lines.items() if k.startswith("INFLUX_")}
    assert set(influx) == {"INFLUX_HOST", "INFLUX_TOKEN", "INFLUX_ORG"}
    found = re.search(r"the influx CLI: (\S+)", done.stderr)
    assert found, done.stderr
    binary = Path(found.group(1))
    assert binary == influx_cli_path(InfraSettings(run_dir=local_servers.run_dir).cache_dir)
    return binary, influx


def _influx(infra_env: tuple[Path, dict[str, str]], tmp_path: Path, *args: str) -> str:
    binary, influx = infra_env
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUX_")}
    env.update(influx, INFLUX_CONFIGS_PATH=str(tmp_path / "configs"))
    done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_influx_query_answers_flux(
    stack_connection: Connection,
    infra_env: tuple[Path, dict[str, str]],
    machine: str,
    tmp_path: Path,
) -> None:
    flux = (
        f'from(bucket: "{stack_connection.influx_bucket}") |> range(start: -1h)'
        f' |> filter(fn: (r) => r._measurement == "readings" and r.machine_id == "{machine}")'
        ' |> filter(fn: (r) => r._field == "temperature_c") |> mean()'
    )
    raw = _influx(infra_env, tmp_path, "query", "--raw", flux)
    rows = [r for r in csv.reader(io.StringIO(raw)) if r and not r[0].startswith("#")]
    header, [row] = rows[0], rows[1:]
    assert float(row[header.index("_value")]) == 70.0
    assert "Influx CLI" in _influx(infra_env, tmp_path, "version")


@pytest.mark.parametrize(
    ("bucket", "influxql", "column", "expected"),
    [
        ("influx_bucket", "SELECT max(temperature_c) FROM readings", "max", 80.0),
        (
            "influx_aggregates_bucket",
            "SELECT mean FROM aggregates WHERE sensor = 'temperature_c'",
            "mean",
            70.0,
        ),
        ("influx_alarms_bucket", "SELECT value, message FROM alarms", "value", 91.5),
    ],
)
def test_influxql_answers_on_each_bucket(
    stack_connection: Connection,
    machine: str,
    bucket: str,
    influxql: str,
    column: str,
    expected: float,
) -> None:
    c = stack_connection
    where = " AND " if " WHERE " in influxql else " WHERE "
    query = f"{influxql}{where}machine_id = '{machine}' AND time > now() - 1h"
    answer = httpx.get(
        f"{c.influx_url}/query",
        params={"db": getattr(c, bucket), "q": query},
        headers={"Authorization": f"Token {c.influx_token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    [series] = result["series"]
    [values] = series["values"]
    assert values[series["columns"].index(column)] == expected


def test_the_docs_influx_command_answers(
    stack_connection: Connection, local_servers: LocalServers, tmp_path: Path
) -> None:
    """docs/analysts.md's `influx query` line, through bash, as written."""
    _write_machine(stack_connection, "42")
    doc = (ROOT / "docs" / "analysts.md").read_text()
    section = doc.split("\n## The `influx` CLI\n", 1)[1].split("\n## ", 1)[0]
    [command] = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    python = ".venv/bin/python" if (ROOT / ".venv/bin/python").exists() else sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILLSTREAM_", "INFLUX_"))}
    env.update(
        MILLSTREAM_RUN_DIR=str(local_servers.run_dir),
        INFLUX_CONFIGS_PATH=str(tmp_path / "configs"),
    )
    done = subprocess.run(
        ["bash", "-ec", command.replace(".venv/bin/python", python)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "temperature_c" in done.stdout and "42" in done.stdout
