"""The connector's readiness rule: Kafka connected and acknowledging, devices being polled."""

from __future__ import annotations

from connectors.config.devices import parse_devices
from connectors.health import ConnectorHealth, _route
from connectors.modbus.poller import DevicePoller


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pollers() -> list[DevicePoller]:
    devices = parse_devices(
        """
devices:
  - {machine_id: 42, host: 127.0.0.1, registers: [{name: temperature_c, address: 0}]}
  - {machine_id: 43, host: 127.0.0.1, device_id: 2, registers: [{name: level, address: 0}]}
""",
        source="test.yaml",
    )
    return [DevicePoller(d, sink=lambda _r: None) for d in devices]


def test_ready_only_while_kafka_acknowledges_and_every_device_is_polled() -> None:
    clock = _Clock()
    pollers = _pollers()
    connected = False
    kafka = {"spooled": 0, "in_flight": 0, "delivered": 0}
    health = ConnectorHealth(
        pollers, connected=lambda: connected, counters=lambda: kafka, stall_s=10, clock=clock
    )
    assert health.not_ready() == "not connected to Kafka yet"
    connected = True
    assert health.not_ready() == "devices not polled yet: 42, 43"
    pollers[0].stats.scans = 1
    pollers[1].stats.transport_errors = 1  # a device that is down is still being polled
    assert health.not_ready() == ""
    # Readings wait and Kafka acknowledges nothing for longer than stall_s.
    kafka.update(spooled=500, in_flight=20)
    clock.now += 5
    pollers[0].stats.scans += 1
    assert health.not_ready() == ""
    clock.now += 6
    pollers[0].stats.scans += 1
    assert health.not_ready() == "Kafka acknowledged nothing for 11 s (520 readings waiting)"
    kafka["delivered"] = 300
    assert health.not_ready() == ""
    # The poll loops stop trying.
    clock.now += 11
    kafka["delivered"] = 600
    assert health.not_ready() == "no device polled for 11 s"
    pollers[1].stats.transport_errors += 1
    assert health.not_ready() == ""


def test_routes_answer_live_ready_and_refuse_the_rest() -> None:
    pollers = _pollers()
    for p in pollers:
        p.stats.scans = 1
    health = ConnectorHealth(pollers, connected=lambda: True, counters=dict, stall_s=10)
    assert _route(health, b"GET /health/live HTTP/1.1\r\n") == (200, b'{"status": "live"}')
    assert _route(health, b"GET /health/ready/ HTTP/1.1\r\n") == (200, b'{"status": "ready"}')
    assert _route(health, b"POST /health/ready HTTP/1.1\r\n")[0] == 405
    assert _route(health, b"GET /metrics HTTP/1.1\r\n")[0] == 404
    assert _route(health, b"\r\n")[0] == 404
    down = ConnectorHealth(pollers, connected=lambda: False, counters=dict, stall_s=10)
    status, body = _route(down, b"GET /health/ready HTTP/1.1\r\n")
    assert (status, body) == (503, b'{"status":"not ready","reason":"not connected to Kafka yet"}')
