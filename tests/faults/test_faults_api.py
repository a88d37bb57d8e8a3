"""The API restarted under 50 ``/live`` clients subscribed to alarms, on the session's Kafka:
each client reconnects and resumes with its last cursor; every alarm event produced before,
during and after the restart must reach every client once."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import websockets
from faultprocs import start, stop
from faultrow import Row, count_seqs, seconds

from contracts.alarms import AlarmEvent
from infra.ports import free_port
from tests.integration.pipelinetools import Producer

pytestmark = pytest.mark.integration

CLIENTS = 50
ALARMS = 10
KEY = "sk_prod_" + "f" * 24


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/ready", timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except OSError:
        return False


def _start_api(env: dict[str, str], port: int, log: Path):
    proc = start(
        ["-m", "api"],
        dict(
            env,
            MILLSTREAM_ADMIN_API_KEY=KEY,
            MILLSTREAM_API_HOST="127.0.0.1",
            MILLSTREAM_API_PORT=str(port),
            MILLSTREAM_RATE_LIMIT_ENABLED="false",
            MILLSTREAM_LIVE_MAX_CONNECTIONS_PER_CREDENTIAL=str(CLIENTS + 10),
        ),
        log,
    )
    deadline = time.monotonic() + 90
    while not _ready(f"http://127.0.0.1:{port}"):
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the API was not ready in 90 s"
        time.sleep(0.3)
    return proc


class Client:
    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[str, int]] = []
        self.cursor: str | None = None
        self.subscribed = asyncio.Event()
        self.resumes = 0
        self.last_resume_s = 0.0

    async def run(self, stop_: asyncio.Event) -> None:
        while not stop_.is_set():
            try:
                async with websockets.connect(self.url, open_timeout=5) as ws:
                    await ws.send(
                        json.dumps(
                            {"action": "subscribe_alarms", "cursor": self.cursor}
                            if self.cursor
                            else {"action": "subscribe_alarms"}
                        )
                    )
                    while not stop_.is_set():
                        try:
                            frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                        except TimeoutError:
                            continue
                        if frame["type"] == "subscribed_alarms" and self.cursor is None:
                            self.cursor = frame["cursor"]
                        if frame["type"] in ("subscribed_alarms", "replayed"):
                            self.subscribed.set()
                            self.last_resume_s = time.monotonic()
                        if frame["type"] == "alarm":
                            self.seen.append((frame["alarm_id"], frame["seq"]))
                            self.cursor = frame["cursor"]
            except (OSError, websockets.ConnectionClosed, TimeoutError):
                self.resumes += 1
                await asyncio.sleep(0.3)


def _produce_alarms(
    bs: str, topic: str, ids: list[str], stop_: threading.Event, sent: dict[str, int]
) -> None:
    producer = Producer(bs)
    try:
        n = 0
        while not stop_.is_set():
            alarm_id = ids[n % len(ids)]
            seq = sent[alarm_id] + 1
            event = AlarmEvent(
                alarm_id=alarm_id,
                event="raised" if seq % 2 else "cleared",
                state="active_unacknowledged" if seq % 2 else "normal",
                machine_id=alarm_id.split(":")[0],
                sensor="temperature_c",
                rule="high",
                severity="high",
                value=90.0,
                threshold=85.0,
                ts_ms=int(time.time() * 1000),
                message="fault suite",
                seq=seq,
            )
            producer.send(topic, [(event.key(), event.encode())])
            sent[alarm_id] = seq
            n += 1
            time.sleep(0.05)
    finally:
        producer.close()


async def test_api_restart_under_50_live_clients(service_env, tmp_path, fault_row: Row) -> None:
    down_s = seconds(1, 5)
    fault_row.describe(
        f"API restart with {CLIENTS} /live clients",
        f"{CLIENTS} WebSocket clients subscribed to alarms; the API stopped (SIGTERM), "
        f"started again {down_s:.0f} s later on the same port while ~20 alarm events/s go on",
        "every client reconnects and resumes with its last cursor: every event once, none missed",
    )
    bs = service_env["MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    topic = service_env["MILLSTREAM_TOPIC_PREFIX"] + ".alarms"
    port = free_port()
    log = tmp_path / "api.log"
    api = await asyncio.to_thread(_start_api, service_env, port, log)
    ids = [f"ap{uuid.uuid4().hex[:6]}{i}:temperature_c:high" for i in range(ALARMS)]
    sent = dict.fromkeys(ids, 0)
    clients = [Client(f"ws://127.0.0.1:{port}/live?api_key={KEY}") for _ in range(CLIENTS)]
    stop_clients = asyncio.Event()
    stop_alarms = threading.Event()
    tasks = [asyncio.create_task(c.run(stop_clients)) for c in clients]
    producer = None
    try:
        await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in clients)), 60)
        producer = threading.Thread(
            target=_produce_alarms, args=(bs, topic, ids, stop_alarms, sent), daemon=True
        )
        producer.start()
        await asyncio.sleep(3)
        await asyncio.to_thread(stop, api)
        for c in clients:
            c.subscribed.clear()
        await asyncio.sleep(down_s)
        restarted = time.monotonic()
        api = await asyncio.to_thread(_start_api, service_env, port, log)
        await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in clients)), 90)
        fault_row.recovered(max(c.last_resume_s for c in clients) - restarted)
        await asyncio.sleep(3)
        stop_alarms.set()
        await asyncio.to_thread(producer.join, 30)
        wanted = {a: range(1, s + 1) for a, s in sent.items()}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(count_seqs(wanted, c.seen).lost for c in clients):
            await asyncio.sleep(0.5)
    finally:
        stop_alarms.set()
        stop_clients.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(stop, api)
    counts = [count_seqs(wanted, c.seen) for c in clients]
    total = sum(sent.values())
    fault_row.measured.update(
        produced=total,
        alarms=total * CLIENTS,
        alarms_lost=sum(c.lost for c in counts),
        alarms_duplicated=sum(c.duplicated for c in counts),
    )
    fault_row.note(
        f"{total} alarm events x {CLIENTS} clients; reconnects "
        f"{sum(c.resumes for c in clients)}; clients missing any: "
        f"{sum(1 for c in counts if c.lost)}"
    )
    assert all(c.resumes >= 1 for c in clients), "a client never saw the restart"
    assert sum(c.lost for c in counts) == 0
    assert sum(c.duplicated for c in counts) == 0
