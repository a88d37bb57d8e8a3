"""Prometheus metrics: the pollers' and the Kafka side's counters read at scrape time."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest

from connectors.config.devices import load_devices
from connectors.metrics import ConnectorMetrics
from connectors.modbus.poller import DevicePoller

REPO = Path(__file__).resolve().parents[3]


def test_scrape_shows_polls_errors_qualities_spool_and_latencies() -> None:
    (device,) = load_devices(REPO / "devices.example.yaml")
    poller = DevicePoller(device, sink=lambda _r: None)
    poller.stats.scans = 12
    poller.stats.transport_errors = 2
    poller.stats.overruns = 1
    poller.stats.values.update({"good": 60, "bad": 3})
    metrics = ConnectorMetrics()
    metrics.watch([poller], lambda: {"spooled": 7, "spool_dropped": 1, "commands_refused": 2})
    metrics.request_seconds.observe(0.002)
    metrics.produce_seconds.observe(0.05)
    text = generate_latest(metrics.registry).decode()
    assert 'millstream_connector_polls_total{machine_id="42"} 12.0' in text
    assert 'millstream_connector_errors_total{kind="transport",machine_id="42"} 2.0' in text
    assert 'millstream_connector_errors_total{kind="overrun",machine_id="42"} 1.0' in text
    assert 'millstream_connector_values_total{quality="bad"} 3.0' in text
    assert "millstream_connector_spool_depth 7.0" in text
    assert "millstream_connector_spool_dropped_total 1.0" in text
    assert 'millstream_connector_commands_total{status="refused"} 2.0' in text
    assert "millstream_connector_request_seconds_count 1.0" in text
    assert "millstream_connector_produce_seconds_count 1.0" in text


def test_latency_histogram_counts_each_observation_in_its_bucket_and_above() -> None:
    metrics = ConnectorMetrics()
    for value in (0.0005, 0.0007, 0.003, 7.0):
        metrics.request_seconds.observe(value)
    lines = set(generate_latest(metrics.registry).decode().splitlines())
    name = "millstream_connector_request_seconds"
    # Prometheus buckets are cumulative and "le" (less than or equal) their bound.
    cumulative = {"0.0005": 1, "0.001": 2, "0.005": 3, "2.5": 3, "+Inf": 4}
    assert {f'{name}_bucket{{le="{le}"}} {n:.1f}' for le, n in cumulative.items()} <= lines
    assert {f"{name}_count 4.0", f"{name}_sum 7.0042"} <= lines
