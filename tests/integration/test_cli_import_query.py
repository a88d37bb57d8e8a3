"""`millstream import` and `millstream query` against the real API, broker, worker and
InfluxDB: 100,000 CSV rows imported through Kafka and counted in InfluxDB, read back as
CSV and JSON; line protocol imported; a bad row named by its line, before anything is sent
or when the API refuses it."""

from __future__ import annotations

import contextlib
import csv
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from apiserver import ServerThread
from influxdb_client import InfluxDBClient
from test_pipeline_alarms import worker

from api.app import create_app
from api.settings import ApiSettings
from contracts.settings import CommonSettings
from contracts.timefmt import format_ts, now_ms

pytestmark = pytest.mark.integration

DEADLINE_S = 180.0
ROWS = 100_000
MILLSTREAM = Path(sys.executable).with_name("millstream")


def millstream(*args: str, timeout_s: float = 300.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MILLSTREAM), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )


def _count(influx_url: str, token: str, org: str, bucket: str, machine: str) -> int:
    flux = (
        f'from(bucket: "{bucket}") |> range(start: -3d, stop: 1h)'
        f' |> filter(fn: (r) => r._measurement == "readings" and r.machine_id == "{machine}"'
        ' and r._field == "temperature_c") |> count()'
    )
    with InfluxDBClient(url=influx_url, token=token, org=org, timeout=60_000) as client:
        tables = client.query_api().query(flux)
    return sum(int(record.get_value()) for table in tables for record in table.records)


def _wait_count(settings: CommonSettings, machine: str, expected: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    count = 0
    while count < expected:
        assert time.monotonic() < deadline, f"{machine}: {count} of {expected} in InfluxDB"
        time.sleep(1.0)
        count = _count(
            settings.influx_url,
            settings.influx_token.get_secret_value(),
            settings.influx_org,
            settings.influx_bucket,
            machine,
        )
    assert count == expected


@contextlib.contextmanager
def _stack(
    common_settings: CommonSettings, service_env: dict[str, str], tmp_path: Path, admin_key: str
) -> Iterator[list[str]]:
    """A worker and an API; yields the options that point the command at the API."""
    settings = ApiSettings(**common_settings.model_dump(), admin_api_key=admin_key)
    with (
        worker(service_env, app_id=f"im-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path),
        ServerThread(create_app(settings)) as server,
    ):
        yield ["--url", server.url, "--api-key", admin_key]


def test_import_100k_csv_rows_then_query_them_back_as_csv_and_json(
    common_settings: CommonSettings, service_env: dict[str, str], tmp_path: Path, admin_key: str
) -> None:
    machine = f"imp-{uuid.uuid4().hex[:8]}"
    first_ms = (now_ms() // 1000 - ROWS - 60) * 1000  # one row a second, ending a minute ago
    source = tmp_path / "export.csv"
    with source.open("w") as out:
        out.write("machine_id,ts,temperature_c,power_kw\n")
        for i in range(ROWS):
            out.write(f"{machine},{format_ts(first_ms + i * 1000)},{60 + i % 100 / 10},{i % 7}\n")
    with _stack(common_settings, service_env, tmp_path, admin_key) as api:
        started = time.monotonic()
        done = millstream("import", str(source), *api)
        posted_s = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        assert f"{ROWS} rows checked" in done.stderr and f"{ROWS} readings imported" in done.stderr
        _wait_count(common_settings, machine, ROWS)
        stored_s = time.monotonic() - started
        print(f"import of {ROWS} rows: posted in {posted_s:.1f}s, stored in {stored_s:.1f}s")

        as_csv = tmp_path / "back.csv"
        got = millstream(
            "query", machine, "--start", "-3d", "--page-size", "30000", "-o", str(as_csv), *api
        )
        assert got.returncode == 0, got.stderr
        with as_csv.open() as back, source.open() as original:
            back_rows = list(csv.DictReader(back))
            original_rows = list(csv.DictReader(original))
        assert len(back_rows) == ROWS
        assert set(back_rows[0]) == {"machine_id", "ts", "temperature_c", "power_kw"}
        for mine, theirs in zip(original_rows, back_rows, strict=True):
            assert (mine["machine_id"], mine["ts"]) == (theirs["machine_id"], theirs["ts"])
            for name in ("temperature_c", "power_kw"):
                assert float(mine[name]) == float(theirs[name])

        # A slice as JSON: the API's document, every point of the range.
        start, stop = format_ts(first_ms + 10_000), format_ts(first_ms + 20_000)
        sliced = tmp_path / "slice.json"
        got = millstream(
            "query",
            machine,
            "--start",
            start,
            "--stop",
            stop,
            "--fields",
            "temperature_c",
            "--format",
            "json",
            "-o",
            str(sliced),
            *api,
        )
        assert got.returncode == 0, got.stderr
        document = orjson.loads(sliced.read_bytes())
        assert document["truncated"] is False
        assert [p["ts"] for p in document["points"]] == [
            format_ts(first_ms + i * 1000) for i in range(10, 20)
        ]
        assert document["points"][0] == {"ts": format_ts(first_ms + 10_000), "temperature_c": 61.0}

        # Hourly maxima over the range.
        got = millstream(
            "query",
            machine,
            "--start",
            "-3d",
            "--window",
            "1h",
            "--fn",
            "max",
            "--format",
            "json",
            *api,
        )
        assert got.returncode == 0, got.stderr
        hourly = orjson.loads(got.stdout)["points"]
        assert ROWS / 3600 <= len(hourly) <= ROWS / 3600 + 2
        assert max(p["temperature_c"] for p in hourly) == 69.9


def test_import_line_protocol_and_bad_rows_named_by_line(
    common_settings: CommonSettings, service_env: dict[str, str], tmp_path: Path, admin_key: str
) -> None:
    machine = f"lp-{uuid.uuid4().hex[:8]}"
    first_ms = now_ms() - 3_600_000
    source = tmp_path / "export.lp"
    source.write_text(
        "".join(
            f"readings,machine_id={machine},plant=hall-b,line=3 temperature_c={50 + i}"
            f",running=true {(first_ms + i * 1000) * 1_000_000}\n"
            for i in range(1000)
        )
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "machine_id,ts,temperature_c\n"
        f"{machine},{format_ts(first_ms)},1\n"
        f"{machine},{format_ts(first_ms + 1)},warm\n"
    )
    future = tmp_path / "future.csv"
    later = now_ms() + 2 * 3_600_000  # beyond what the API accepts ahead of now
    future.write_text(
        f"machine_id,ts,temperature_c\n{machine},{format_ts(first_ms)},1\n"
        f"{machine},{format_ts(later)},1\n"
    )
    plain = tmp_path / "plc-7.csv"
    plain.write_text(f"ts,temperature_c\n{format_ts(first_ms)},1\n{format_ts(first_ms + 1)},2\n")
    with _stack(common_settings, service_env, tmp_path, admin_key) as api:
        refused = millstream("import", str(bad), *api)
        assert refused.returncode == 1
        assert "line 3: temperature_c: 'warm' is not a number" in refused.stderr
        assert "nothing was imported" in refused.stderr

        refused = millstream("import", str(future), "--batch", "10", *api)
        assert refused.returncode == 1
        assert "line 3: the API refused it (HTTP 422" in refused.stderr, refused.stderr
        assert "0 rows before it were imported" in refused.stderr

        checked = millstream(
            "import", str(plain), "--machine", machine, "--plant", "north", "--dry-run", *api
        )
        assert checked.returncode == 0, checked.stderr
        assert "2 rows checked" in checked.stderr and "0 readings imported" in checked.stderr

        done = millstream("import", str(source), *api)
        assert done.returncode == 0, done.stderr
        _wait_count(common_settings, machine, 1000)
        got = millstream("query", machine, "--start", "-2h", "--format", "json", *api)
        points = orjson.loads(got.stdout)["points"]
        assert len(points) == 1000
        assert points[0] == {"ts": format_ts(first_ms), "temperature_c": 50.0, "running": 1.0}
