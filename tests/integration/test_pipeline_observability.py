"""The worker's operational metrics and health pages, on the real worker with real Kafka
and InfluxDB: readings per second, consumer lag per partition, InfluxDB write latency and
batch size, dead letters by reason, window state; ``/health/live/`` and ``/health/ready/``."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
from pipelinetools import check_running, partition_count, produce, reading, running_worker

from contracts.timefmt import now_ms
from infra.ports import free_port

pytestmark = pytest.mark.integration


def _get(port: int, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.TransportError:
        return None


def _until(proc, check, *, deadline_s: float = 60.0, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + deadline_s
    while True:
        check_running(proc)
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not met after {deadline_s} s: {what}")
        time.sleep(0.2)


def _samples(page: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of every sample of ``name`` (labels as written, "" for none)."""
    out: dict[str, float] = {}
    for line in page.splitlines():
        m = re.fullmatch(rf"{re.escape(name)}(\{{[^}}]*\}})? (\S+)", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def test_worker_exports_operations_metrics_and_health(
    common_settings, service_env, influx, tmp_path
):
    topics = common_settings.topics
    bootstrap = common_settings.kafka_bootstrap_servers
    machine = f"obs-{uuid.uuid4().hex[:8]}"
    t0 = now_ms() - 60_000
    records = [reading(machine, t0 + i * 1000, 20.0 + i) for i in range(30)]
    records.append((machine.encode(), b"\x00\xffnot json at all"))
    port = free_port()
    with running_worker(
        service_env,
        app_id=f"obs-{uuid.uuid4().hex[:6]}",
        tmp_path=tmp_path,
        MILLSTREAM_PIPELINE_WEB_PORT=str(port),
    ) as proc:
        live = _until(proc, lambda: _get(port, "/health/live/"), what="/health/live/ answers")
        assert live.status_code == 200
        assert live.json() == {"status": "live"}
        ready = _until(
            proc,
            lambda: (r := _get(port, "/health/ready/")) is not None and r.status_code == 200 and r,
            what="/health/ready/ is 200",
        )
        assert ready.json() == {"status": "ready"}

        produce(bootstrap, topics.readings, records)

        def settled() -> str | None:
            response = _get(port, "/metrics/")
            if response is None or response.status_code != 200:
                return None
            page = response.text
            lag = _samples(page, "millstream_pipeline_consumer_lag")
            readings_lag = {k: v for k, v in lag.items() if f'topic="{topics.readings}"' in k}
            dead = _samples(page, "millstream_pipeline_dead_letters_total")
            done = (
                readings_lag
                and sum(readings_lag.values()) == 0
                and dead.get('{reason="decode"}', 0) >= 1
                and _samples(page, "millstream_pipeline_window_machines").get("", 0) >= 1
            )
            return page if done else None

        page = _until(proc, settled, deadline_s=90, what="readings stored, lag back to 0")

    readings_total = _samples(page, "millstream_pipeline_readings_total")[""]
    assert readings_total >= 30  # the topic may hold other tests' readings too
    lag = _samples(page, "millstream_pipeline_consumer_lag")
    partitions = partition_count(bootstrap, topics.readings)
    assert {f'{{partition="{p}",topic="{topics.readings}"}}' for p in range(partitions)} <= set(lag)
    bucket = influx.bucket
    writes = _samples(page, "millstream_pipeline_influx_write_seconds_count")
    assert writes[f'{{bucket="{bucket}"}}'] >= 1
    lines = _samples(page, "millstream_pipeline_influx_batch_lines_sum")
    assert lines[f'{{bucket="{bucket}"}}'] >= 30
    dead = _samples(page, "millstream_pipeline_dead_letters_total")
    assert dead['{reason="decode"}'] >= 1
    assert set(dead) >= {f'{{reason="{s}"}}' for s in ("decode", "influx", "window")}
    assert _samples(page, "millstream_pipeline_window_panes")[""] >= 1
    # One registry per process: the older pages show the same, next to their own counters.
    assert "millstream_pipeline_readings_total" in page
    assert "millstream_alarm_chattering_total" in page
    assert "millstream_window_late_readings_total" in page
