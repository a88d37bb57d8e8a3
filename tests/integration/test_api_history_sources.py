"""``GET /api/machines/{id}/readings`` as CSV and from either bucket, on the real stack:
history imported through the API, Kafka and the worker (which writes both the raw points
and the one-minute windows), exported with the command docs/integrators.md documents,
imported again into another machine id, and read back the same; every windowed function
the aggregates bucket serves gives the raw answer within float tolerance, and names its
source."""

from __future__ import annotations

import csv
import io
import math
import os
import re
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from test_cli_import_query import MILLSTREAM, _stack, _wait_count, millstream

from contracts.settings import CommonSettings
from contracts.timefmt import format_ts, now_ms

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
STEP_MS = 5_000
ROWS = 4 * HOUR_MS // STEP_MS
DOC = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"


def _history(machine: str, first_ms: int) -> str:
    """Four hours every 5 s; every 97th temperature of quality uncertain."""
    out = ["machine_id,ts,power_kw,temperature_c,temperature_c_quality"]
    for i in range(ROWS):
        quality = "uncertain" if i % 97 == 0 else ""
        temperature = 60 + (i * 37 % 101) / 10
        out.append(
            f"{machine},{format_ts(first_ms + i * STEP_MS)},{(i % 13) * 0.5 + 0.25},"
            f"{temperature},{quality}"
        )
    return "\n".join(out) + "\n"


def _documented_export() -> str:
    """The export-and-import block of docs/integrators.md, as written."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    found = [b for b in blocks if "readings?format=csv" in b and "millstream import" in b]
    assert len(found) == 1, "docs/integrators.md: one block exports CSV and imports it"
    return found[0]


def _close(a: float | int, b: float | int) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_csv_export_imports_into_another_machine_and_sources_agree(
    common_settings: CommonSettings, service_env: dict[str, str], tmp_path: Path, admin_key: str
) -> None:
    one, other = f"csv-{uuid.uuid4().hex[:8]}", f"csv-{uuid.uuid4().hex[:8]}"
    first_ms = (now_ms() // HOUR_MS - 5) * HOUR_MS
    source = tmp_path / "history.csv"
    source.write_text(_history(one, first_ms))
    with _stack(common_settings, service_env, tmp_path, admin_key) as options:
        url = options[options.index("--url") + 1]
        done = millstream("import", str(source), *options)
        assert done.returncode == 0, done.stderr
        _wait_count(common_settings, one, ROWS)
        http = httpx.Client(base_url=url, headers={"X-API-Key": admin_key}, timeout=60)
        span = {"start": format_ts(first_ms), "stop": format_ts(first_ms + 4 * HOUR_MS)}
        path = f"/api/machines/{one}/readings"

        # CSV: the shape millstream import reads, the quality column included.
        answer = http.get(path, params={**span, "format": "csv"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        assert answer.headers["x-millstream-source"] == "raw"
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert list(rows[0]) == [
            "machine_id",
            "ts",
            "power_kw",
            "temperature_c",
            "temperature_c_quality",
        ]
        assert len(rows) == ROWS and rows[0]["temperature_c_quality"] == "uncertain"
        assert source.read_text() == answer.text

        # Paged like the JSON answer: the Link header names the next page.
        query = f"start={span['start']}&stop={span['stop']}&format=csv&limit=1000"
        pages, following = [], f"{url}{path}?{query}"
        while following:
            page = http.get(following)
            assert page.status_code == 200, page.text
            pages.append(page.text.split("\n", 1)[1])
            link = page.headers.get("link", "")
            assert (page.headers["x-millstream-truncated"] == "true") == bool(link)
            following = link[1 : link.index(">")] if link else ""
        assert len(pages) == math.ceil(ROWS / 1000)
        assert "".join(pages) == answer.text.split("\n", 1)[1]

        # The documented command, into another machine id.
        command = (
            _documented_export()
            .replace("machines/42/", f"machines/{one}/")
            .replace("--machine 43", f"--machine {other}")
        )
        env = {
            "PATH": f"{MILLSTREAM.parent}:/usr/bin:/bin",
            "K": admin_key,
            "A": f"{url}/api",
            "MILLSTREAM_URL": url,
            "MILLSTREAM_API_KEY": admin_key,
            "HOME": os.environ.get("HOME", "/tmp"),
        }
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stderr
        _wait_count(common_settings, other, ROWS)
        again = http.get(f"/api/machines/{other}/readings", params={**span, "format": "csv"})
        assert again.text == answer.text.replace(f"{one},", f"{other},")

        # Both sources, every function the aggregates bucket serves: the same answer.
        agreed = {"start": format_ts(first_ms), "stop": format_ts(first_ms + 3 * HOUR_MS)}
        for window in ("1h", "15m"):
            for fn in ("mean", "sum", "count", "min", "max", "last"):
                params = {**agreed, "window": window, "fn": fn}
                raw = http.get(path, params={**params, "source": "raw"})
                auto = http.get(path, params={**params, "source": "auto"})
                assert raw.status_code == auto.status_code == 200, auto.text
                assert raw.json()["source"] == raw.headers["x-millstream-source"] == "raw"
                assert auto.json()["source"] == auto.headers["x-millstream-source"] == "aggregates"
                want, got = raw.json()["points"], auto.json()["points"]
                assert len(want) == (3 if window == "1h" else 12), (window, fn, want)
                assert [p["ts"] for p in got] == [p["ts"] for p in want], (window, fn)
                for w, g in zip(want, got, strict=True):
                    assert set(w) == set(g) == {"ts", "power_kw", "temperature_c"}
                    for name in ("power_kw", "temperature_c"):
                        assert _close(w[name], g[name]), (window, fn, name, w, g)
        asked = http.get(path, params={**agreed, "window": "90s", "source": "aggregates"})
        assert asked.status_code == 422 and "source" in asked.json()["detail"]
        short = http.get(path, params={**agreed, "window": "30s", "source": "auto"})
        assert short.json()["source"] == "raw"
        unset = http.get(path, params={**agreed, "window": "1h"})
        assert unset.json()["source"] == unset.headers["x-millstream-source"] == "raw"
        http.close()
