"""One reading's whole journey, through the real processes that `make run` starts.

Simulated lathe (pymodbus) → connector → Kafka → Faust worker → InfluxDB and alarms →
API → REST and the seed's WebSocket client.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
import websockets
from playwright.sync_api import Browser

from infra.ports import is_listening
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SEED_SUBSCRIBE = {
    "action": "subscribe",
    "machine_id": 42,
    "sensors": ["temperature", "vibration", "power"],
}


async def _collect_frames(url: str, *, timeout_s: float) -> list[dict[str, object]]:
    """Run the seed's client: subscribe, then gather frames until an alarm has been raised."""
    frames: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout_s
    async with websockets.connect(url) as ws:
        await ws.send(orjson.dumps(SEED_SUBSCRIBE).decode())
        while time.monotonic() < deadline:
            try:
                left_s = max(0.1, deadline - time.monotonic())
                raw = await asyncio.wait_for(ws.recv(), timeout=left_s)
            except TimeoutError:
                break
            frame = orjson.loads(raw)
            frames.append(frame)
            readings = [f for f in frames if f.get("type") == "reading"]
            if len(readings) >= 3 and any(
                f.get("type") == "alarm" and f.get("event") == "raised" for f in frames
            ):
                break
    return frames


def test_banner_names_dashboard_api_docs_and_key(stack: RunningStack) -> None:
    for label in ("Dashboard:", "API:", "API docs:", "WebSocket:", "Admin key:"):
        assert label in stack.banner
    assert stack.ws_url.startswith("ws://127.0.0.1:") and "api_key=" in stack.ws_url


def test_seed_websocket_client_sees_readings_and_the_overheat_alarm(stack: RunningStack) -> None:
    frames = asyncio.run(_collect_frames(stack.ws_url, timeout_s=150))
    readings = [f for f in frames if f.get("type") == "reading"]
    alarms = [f for f in frames if f.get("type") == "alarm"]
    assert len(readings) >= 3, frames[:5]
    for frame in readings:
        assert frame["machine_id"] == 42
        assert isinstance(frame["temperature_c"], float)
        assert isinstance(frame["vibration_mm_s"], float)
        assert isinstance(frame["power_kw"], float)
        # Only the subscribed sensors (by prefix) are sent.
        assert "spindle_rpm" not in frame
    raised = [a for a in alarms if a.get("event") == "raised"]
    last = [r["temperature_c"] for r in readings[-10:]]
    assert raised, f"no alarm raised; last temperatures: {last}"
    alarm = raised[0]
    assert alarm["machine_id"] == 42
    assert alarm["sensor"] == "temperature_c"
    assert isinstance(alarm["value"], float) and alarm["value"] > 85.0


def test_rest_returns_the_simulated_readings_from_influxdb(stack: RunningStack) -> None:
    headers = {"X-API-Key": stack.admin_key}
    deadline = time.monotonic() + 60
    points: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        resp = httpx.get(
            f"{stack.base_url}/api/machines/42/readings", params={"start": "-5m"}, headers=headers
        )
        assert resp.status_code == 200, resp.text
        points = resp.json()["points"]
        if len(points) >= 3:
            break
        time.sleep(1)
    assert len(points) >= 3
    assert all(isinstance(p["temperature_c"], float) for p in points)
    assert httpx.get(f"{stack.base_url}/api/machines/42/readings").status_code == 401


def test_injected_reading_travels_to_influxdb(stack: RunningStack) -> None:
    """The seed's curl call: a script injects a reading through the API."""
    headers = {"X-API-Key": stack.admin_key}
    resp = httpx.post(
        f"{stack.base_url}/api/readings",
        json={"machine_id": "e2e-probe", "temperature_c": 67.5},
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = httpx.get(
            f"{stack.base_url}/api/machines/e2e-probe/readings",
            params={"start": "-10m"},
            headers=headers,
        )
        assert got.status_code == 200, got.text
        if got.json()["points"]:
            assert got.json()["points"][-1]["temperature_c"] == 67.5
            return
        time.sleep(1)
    raise AssertionError("the injected reading never reached InfluxDB")


def _infra_cli(stack: RunningStack, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    env["MILLSTREAM_RUN_DIR"] = str(stack.run_dir)
    done = subprocess.run(
        [sys.executable, "-m", "infra", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_infra_status_and_env_describe_the_running_servers(stack: RunningStack) -> None:
    status = _infra_cli(stack, "status")
    assert re.search(r"^kafka: running pid=\d+", status, flags=re.M), status
    assert re.search(r"^influxdb: running pid=\d+", status, flags=re.M), status
    env = dict(line.split("=", 1) for line in _infra_cli(stack, "env").splitlines())
    assert env["MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"].startswith("127.0.0.1:")
    assert env["MILLSTREAM_INFLUX_URL"].startswith("http://127.0.0.1:")
    assert env["MILLSTREAM_INFLUX_TOKEN"]


def _minted_key(stack: RunningStack, *, name: str, role: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLSTREAM_")}
    for line in _infra_cli(stack, "env").splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    done = subprocess.run(
        [sys.executable, "-m", "api", "mint-key", "--name", name, "--role", role],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip().splitlines()[-1]


# The SCADA loop of the API integration guide, one pass, with only the address changed, and
# the timestamp a parameter: the guide's own, 2025-12-20, is history the telemetry bucket
# keeps (its default retention keeps readings forever), so it is stored and readable.
GUIDE_TIMESTAMP = "2025-12-20T14:30:00Z"
SEED_SCADA_SCRIPT = """
import requests
import time

SCADA_API = "{base_url}/api/readings"
API_KEY = "{api_key}"

def read_modbus_register(address):
    return {{40001: 67.5, 40002: 4.8, 40003: 3.2}}[address]

reading = {{
    "machine_id": 42,
    "timestamp": "{timestamp}",
    "temperature_c": read_modbus_register(40001),
    "pressure_bar": read_modbus_register(40002),
    "vibration_mm_s": read_modbus_register(40003)
}}
response = requests.post(
    SCADA_API,
    json=reading,
    headers={{"X-API-Key": API_KEY}}
)
if response.status_code == 201:
    print("Reading recorded successfully")
else:
    print(response.status_code, response.text)
"""


def test_seed_scada_script_records_a_reading_with_a_minted_key(stack: RunningStack) -> None:
    key = _minted_key(stack, name="scada-line-3", role="engineer")
    assert key.startswith("msk_")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    script = SEED_SCADA_SCRIPT.format(base_url=stack.base_url, api_key=key, timestamp=now)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "Reading recorded successfully", done.stdout + done.stderr

    # The guide's literal timestamp: kept, and readable afterwards around 2025-12-20.
    script = SEED_SCADA_SCRIPT.format(
        base_url=stack.base_url, api_key=key, timestamp=GUIDE_TIMESTAMP
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "Reading recorded successfully", done.stdout + done.stderr
    params = {"start": "2025-12-20T14:00:00Z", "stop": "2025-12-20T15:00:00Z"}
    deadline = time.monotonic() + 60
    while True:
        history = httpx.get(
            f"{stack.base_url}/api/machines/42/readings",
            params=params,
            headers={"X-API-Key": key},
            timeout=30,
        )
        assert history.status_code == 200, history.text
        points = [p for p in history.json()["points"] if p["ts"] == "2025-12-20T14:30:00.000Z"]
        if points:
            break
        assert time.monotonic() < deadline, "the guide's reading is not readable"
        time.sleep(1)
    assert points[0]["temperature_c"] == 67.5
    assert points[0]["pressure_bar"] == 4.8
    assert points[0]["vibration_mm_s"] == 3.2


def test_seed_curl_examples(stack: RunningStack) -> None:
    key = stack.admin_key
    listed = subprocess.run(
        ["curl", "-s", "-H", f"X-API-Key: {key}", f"{stack.base_url}/api/machines"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    machines = orjson.loads(listed.stdout)
    assert {"machine_id": 42, "name": "CNC Lathe - Haas ST-20"}.items() <= machines[0].items()
    posted = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            f"{stack.base_url}/api/readings",
            "-H",
            "Content-Type: application/json",
            "-H",
            f"X-API-Key: {key}",
            "-d",
            '{"machine_id": 42, "temperature_c": 67.5}',
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert posted.stdout == "201"


def test_the_seeds_machine_object_and_put_with_it(stack: RunningStack) -> None:
    """The guide's machine object: each field a client reads, of the type it shows."""
    headers = {"X-API-Key": stack.admin_key}
    url = f"{stack.base_url}/api/machines/42"
    deadline = time.monotonic() + 60
    machine = httpx.get(url, headers=headers).json()
    while machine["status"] == "offline" and time.monotonic() < deadline:
        time.sleep(0.5)
        machine = httpx.get(url, headers=headers).json()
    assert machine["machine_id"] == 42
    assert machine["name"] == "CNC Lathe - Haas ST-20"
    assert machine["location"] == "Hall B, Line 3"
    assert machine["status"] in ("running", "alarm"), machine
    assert isinstance(machine["temperature_c"], float)
    assert isinstance(machine["spindle_rpm"], float)
    assert isinstance(machine["alarms"], list)
    assert machine["last_maintenance"] == "2025-12-15"
    assert isinstance(machine["sensors"]["vibration_mm_s"], float)
    assert machine["sensor_info"]["temperature_c"] == {"unit": "°C"}
    put = httpx.put(url, headers=headers, json=machine)
    assert put.status_code == 200, put.text
    assert put.json()["name"] == machine["name"]


def test_operator_key_reads_but_cannot_post_readings(stack: RunningStack) -> None:
    key = _minted_key(stack, name="hall-b-screen", role="operator")
    headers = {"X-API-Key": key}
    assert httpx.get(f"{stack.base_url}/api/machines/42", headers=headers).status_code == 200
    resp = httpx.post(
        f"{stack.base_url}/api/readings",
        json={"machine_id": 42, "temperature_c": 67.5},
        headers=headers,
    )
    assert resp.status_code == 403
    assert "detail" in resp.json()


def test_analyst_flux_queries_answer(stack: RunningStack) -> None:
    """The first Flux queries of docs/analysts.md, run as written against the stack's
    InfluxDB (its ready queries run on a known history in
    tests/integration/test_docs_analysts.py)."""
    from influxdb_client import InfluxDBClient

    doc = (ROOT / "docs" / "analysts.md").read_text()
    first = doc.split("## First queries", 1)[1].split("\n## ", 1)[0]
    queries = re.findall(r"```flux\n(.*?)```", first, flags=re.S)
    assert len(queries) >= 2
    env = dict(line.split("=", 1) for line in _infra_cli(stack, "env").splitlines())
    with InfluxDBClient(
        url=env["MILLSTREAM_INFLUX_URL"],
        token=env["MILLSTREAM_INFLUX_TOKEN"],
        org=env["MILLSTREAM_INFLUX_ORG"],
    ) as client:
        for query in queries:
            tables = client.query_api().query(query)
            values = [record.get_value() for table in tables for record in table.records]
            assert values, query
            assert all(isinstance(v, (int, float)) for v in values), query


# The JavaScript client of the API integration guide, verbatim but for its URL (``%s``).
SEED_JS = """// Connect to the WebSocket server for production line monitoring
const ws = new WebSocket('%s');
ws.onopen = () => {
console.log('Connected to monitoring server');
// Subscribe to machine 42 sensor data
ws.send(JSON.stringify({
action: 'subscribe',
machine_id: 42,
sensors: ['temperature', 'vibration', 'power']
}));
};
ws.onmessage = (event) => {
const data = JSON.parse(event.data);
// data = { machine_id: 42, temperature_c: 68.1, vibration_mm_s: 3.5, ... }
if (data.temperature_c > 85) {
triggerAlarm('High temperature on machine ' + data.machine_id);
}
updateDashboard(data);
};
ws.onerror = (error) => {
console.error('Connection error:', error);
};
"""

# In a page, the two functions it calls are the page's own.
SEED_JS_PAGE = (
    """<!doctype html>
<script>
window.received = [];
window.alarmsTriggered = [];
function triggerAlarm(message) { window.alarmsTriggered.push(message); }
function updateDashboard(data) { window.received.push(data); }

"""
    + SEED_JS
    + """</script>
"""
)

# Under Node 20, which has no WebSocket of its own, the ``ws`` package provides it; the two
# functions collect what arrives and print it once three readings are in.
SEED_JS_NODE = (
    """const WebSocket = require('ws');
const received = [];
const alarmsTriggered = [];
function triggerAlarm(message) { alarmsTriggered.push(message); }
function updateDashboard(data) {
  received.push(data);
  if (received.filter(d => d.type === 'reading').length >= 3) {
    console.log(JSON.stringify({received, alarmsTriggered}));
    process.exit(0);
  }
}
setTimeout(() => { console.error('no three readings within 60 s'); process.exit(2); }, 60000);

"""
    + SEED_JS
)

NODE_DIR = Path(__file__).parent / "node"


def test_seed_javascript_client_in_a_real_browser(stack: RunningStack, browser: Browser) -> None:
    page = browser.new_page()
    page.set_content(SEED_JS_PAGE % stack.ws_url)
    page.wait_for_function(
        "window.received.filter(d => d.type === 'reading').length >= 3", timeout=60_000
    )
    frames = page.evaluate("window.received")
    page.close()
    readings = [f for f in frames if f["type"] == "reading"]
    assert all(f["machine_id"] == 42 for f in readings)
    assert all(isinstance(f["temperature_c"], (int, float)) for f in readings)
    assert all("vibration_mm_s" in f and "power_kw" in f for f in readings)


def test_seed_javascript_client_under_node_with_ws(stack: RunningStack, tmp_path: Path) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed for this test (Node 20 is part of the toolchain)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    script = NODE_DIR / f"seed-client-{tmp_path.name}.js"
    script.write_text(SEED_JS_NODE % stack.ws_url)
    try:
        result = subprocess.run(
            [node, str(script)], capture_output=True, text=True, timeout=90, cwd=NODE_DIR
        )
    finally:
        script.unlink()
    assert result.returncode == 0, result.stderr
    assert "Connected to monitoring server" in result.stdout
    out = orjson.loads(result.stdout.strip().splitlines()[-1])
    readings = [f for f in out["received"] if f.get("type") == "reading"]
    assert len(readings) >= 3
    assert all(f["machine_id"] == 42 for f in readings)
    assert all(isinstance(f["temperature_c"], (int, float)) for f in readings)
    assert all("vibration_mm_s" in f and "power_kw" in f for f in readings)


def test_dashboard_shows_live_values_in_a_real_browser(
    stack: RunningStack, browser: Browser
) -> None:
    """The printed link logs straight into the console (the key in its fragment)."""
    dashboard = re.search(r"Dashboard:\s+(\S+)", stack.banner)
    assert dashboard is not None
    page = browser.new_page()
    page.goto(dashboard.group(1))
    value = '[data-machine="42"] [data-sensor="temperature_c"] .n'
    page.wait_for_function(
        f"document.querySelector('{value}')?.textContent.match(/^[0-9.]+$/)", timeout=60_000
    )
    assert page.text_content("#connection") == "online"
    assert "api_key" not in page.url  # the key leaves the address bar
    shown = float(page.text_content(value) or "nan")
    page.close()
    assert 0.0 < shown < 200.0


def test_ctrl_c_stops_everything(stack: RunningStack) -> None:
    port = int(stack.base_url.rsplit(":", 1)[1])
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=90) == 0
    assert not is_listening("127.0.0.1", port)
