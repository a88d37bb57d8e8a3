"""`millstream tail` as a subprocess against the real API, broker and pipeline worker:
machine 42's readings with units, its overheat alarm highlighted by severity, and no alarm
lost or repeated across an API restart (the command resumes with its cursor); `--json`
gives one parseable frame a line."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from apiserver import ServerThread
from pipelinetools import consume_until, produce, reading
from test_pipeline_alarms import worker

from api.app import create_app
from api.settings import ApiSettings
from contracts.alarms import decode_alarm
from contracts.settings import CommonSettings
from contracts.timefmt import now_ms
from infra.ports import free_port

pytestmark = pytest.mark.integration

DEADLINE_S = 90.0
MILLSTREAM = Path(sys.executable).with_name("millstream")
# The ANSI colour parameters of cli.render.SEVERITY_STYLES, by severity.
SEVERITY_ANSI = {"critical": "1;37;41m", "high": "1;31m", "medium": "1;33m", "low": "36m"}


class TailProcess:
    """One `millstream tail`; stdout and stderr go to files read while it runs."""

    def __init__(self, args: list[str], tmp_path: Path, name: str) -> None:
        self.out_path = tmp_path / f"{name}.out"
        self.err_path = tmp_path / f"{name}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [str(MILLSTREAM), "tail", *args],
                stdout=out,
                stderr=err,
                env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1", "COLUMNS": "250"},
            )

    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for(self, done: Callable[[str], bool], what: str, *, stream: str = "out") -> str:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            text = self.out() if stream == "out" else self.err()
            if done(text):
                return text
            assert self.proc.poll() is None, f"tail exited: {self.err()[-2000:]}"
            assert time.monotonic() < deadline, f"tail never showed {what}:\n{text[-3000:]}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def tailing(args: list[str], tmp_path: Path, name: str) -> Iterator[TailProcess]:
    tail = TailProcess(args, tmp_path, name)
    try:
        yield tail
    except BaseException:
        sys.stderr.write(f"--- {name} stderr\n{tail.err()[-3000:]}\n")
        raise
    finally:
        tail.stop()


def _json_frames(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def _alarms(text: str) -> list[dict[str, Any]]:
    return [f for f in _json_frames(text) if f["type"] == "alarm"]


def _post_until(
    http: httpx.Client, body: dict[str, Any], done: Callable[[], bool], what: str
) -> None:
    """Post ``body`` once a second until ``done()`` (the worker may still be starting)."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        posted = http.post("/api/readings", json=body)
        assert posted.status_code == 201, posted.text
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(1.0)


def _topic_events(bootstrap: str, topic: str, machine: str, count: int) -> set[tuple[str, int]]:
    messages = consume_until(
        bootstrap,
        topic,
        lambda ms: sum(decode_alarm(m.value).machine_id == machine for m in ms) >= count,
    )
    events = [decode_alarm(m.value) for m in messages]
    return {(e.alarm_id, e.seq) for e in events if e.machine_id == machine}


def test_tail_shows_readings_and_highlighted_alarms_and_resumes_after_an_api_restart(
    common_settings: CommonSettings, service_env: dict[str, str], tmp_path: Path, admin_key: str
) -> None:
    settings = ApiSettings(**common_settings.model_dump(), admin_api_key=admin_key)
    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    common = ["--url", url, "--api-key", admin_key, "--machine", "42", "--max-backoff", "2"]
    alarm_id = "42:temperature_c:high"
    bootstrap = settings.kafka_bootstrap_servers
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            worker(service_env, app_id=f"tl-{uuid.uuid4().hex[:6]}", tmp_path=tmp_path)
        )
        server = stack.enter_context(ServerThread(create_app(settings), port=port))
        http = stack.enter_context(
            httpx.Client(base_url=url, headers={"X-API-Key": admin_key}, timeout=30)
        )
        shown = stack.enter_context(
            tailing(
                [*common, "--sensors", "temperature,vibration", "--color", "always"],
                tmp_path,
                "rich",
            )
        )
        every = stack.enter_context(
            tailing(["--url", url, "--api-key", admin_key, "--alarms", "--json"], tmp_path, "all")
        )
        plant = stack.enter_context(
            tailing(
                ["--url", url, "--api-key", admin_key, "--plant", "hall-b", "--color", "never"],
                tmp_path,
                "plant",
            )
        )
        piped = stack.enter_context(tailing([*common, "--json"], tmp_path, "json"))
        shown.wait_for(lambda t: "subscribed_alarms" in t, "its subscription", stream="err")
        piped.wait_for(lambda t: '"subscribed_alarms"' in t, "its subscription")

        _post_until(
            http,
            {
                "machine_id": 42,
                "plant": "hall-b",
                "temperature_c": 70.5,
                "vibration_mm_s": 3.5,
                "power_kw": 9.5,
            },
            lambda: (
                "temperature" in shown.out()
                and '"reading"' in piped.out()
                and "power 9.5 kW" in plant.out()
            ),
            "a reading in both tails",
        )
        lines = shown.out().splitlines()
        [reading_line, *_] = [line for line in lines if "temperature" in line]
        assert "70.5" in reading_line and "°C" in reading_line and "mm/s" in reading_line
        assert "kW" not in reading_line  # not among the sensors asked for
        assert '"power_kw":9.5' in piped.out().replace(" ", "")

        _post_until(
            http,
            {"machine_id": 42, "temperature_c": 96.0},
            lambda: any(a["event"] == "raised" for a in _alarms(piped.out())),
            "the overheat alarm",
        )
        [raised] = _alarms(piped.out())
        assert raised["alarm_id"] == alarm_id and raised["cursor"]
        every.wait_for(lambda t: any(a["alarm_id"] == alarm_id for a in _alarms(t)), "alarm")
        assert '"reading"' not in every.out()  # --alarms alone: no machine's readings
        plant.wait_for(lambda t: "ALARM HIGH raised" in t, "the plant's alarm")
        out = shown.wait_for(lambda t: "ALARM" in t, "the alarm")
        [alarm_line] = [line for line in out.splitlines() if "ALARM" in line]
        assert f"ALARM {raised['severity'].upper()} raised" in alarm_line.replace("\x1b[0m", "")
        assert SEVERITY_ANSI[raised["severity"]] in alarm_line, repr(alarm_line)

        # The API goes away; the alarm clears and rises again while it is down.
        server.stop()
        for tail in (shown, piped):
            tail.wait_for(lambda t: "reconnecting" in t, "a reconnect", stream="err")
        topic = settings.topics.alarms
        produce(bootstrap, settings.topics.readings, [reading("42", now_ms(), 60.0)])
        _topic_events(bootstrap, topic, "42", 2)
        produce(bootstrap, settings.topics.readings, [reading("42", now_ms(), 97.0)])
        on_topic = _topic_events(bootstrap, topic, "42", 3)

        restarted = stack.enter_context(ServerThread(create_app(settings), port=port))
        assert restarted.url == url
        piped.wait_for(lambda t: len(_alarms(t)) >= len(on_topic), "the missed alarms")
        seen = [(a["alarm_id"], a["seq"]) for a in _alarms(piped.out())]
        assert sorted(seen) == sorted(on_topic), "lost or repeated alarm events"
        assert [a["event"] for a in _alarms(piped.out())] == ["raised", "cleared", "raised"]
        shown.wait_for(lambda t: t.count("ALARM") == 3, "the missed alarms")
        assert "cleared" in shown.out()
        assert "resumed" in shown.err()

        # Readings flow again on the new connection.
        _post_until(
            http,
            {"machine_id": 42, "temperature_c": 61.25},
            lambda: "61.25" in shown.out(),
            "a reading after the restart",
        )
        for frame in _json_frames(piped.out()):  # every line is one JSON frame
            assert frame["type"] in {
                "reading",
                "alarm",
                "subscribed",
                "subscribed_alarms",
                "replayed",
            }, frame
