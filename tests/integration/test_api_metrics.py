"""``/metrics`` of a running app: requests by route template and status, latency."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx
import pytest
from apiserver import ServerThread
from prometheus_client.parser import text_string_to_metric_families

from api.settings import ApiSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(jwt_secret="m" + secrets.token_hex(24))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_requests_by_route_template_status_and_latency(
    server: ServerThread, admin_key: str
) -> None:
    key = {"X-API-Key": admin_key}
    with httpx.Client(base_url=server.url, timeout=20) as http:
        for machine in ("111111", "222222", "333333"):
            assert http.get(f"/api/machines/{machine}", headers=key).status_code == 404
        assert http.get("/api/machines", headers=key).status_code == 200
        assert http.get("/api/machines").status_code == 401
        assert http.get("/no/such/path").status_code == 404
        response = http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    route = "/api/machines/{machine_id}"

    def requests(route: str, method: str, status: str) -> float:
        labels = (("method", method), ("route", route), ("status", status))
        return samples.get(("millstream_api_requests_total", labels), 0.0)

    assert requests(route, "GET", "404") == 3
    assert requests("/api/machines", "GET", "200") == 1
    assert requests("/api/machines", "GET", "401") == 1
    assert requests("unmatched", "GET", "404") == 1
    count = samples[
        ("millstream_api_request_duration_seconds_count", (("method", "GET"), ("route", route)))
    ]
    assert count == 3
    assert not any("111111" in str(labels) for _, labels in samples)
    for name in (
        "millstream_api_ws_clients",
        "millstream_api_ws_clients_overflowed_total",
        "millstream_api_audit_dropped_total",
    ):
        assert any(n == name for n, _ in samples), name
    assert samples[("millstream_api_ws_clients", ())] == 0
    lag_topics = {
        dict(labels)["topic"] for n, labels in samples if n == "millstream_api_live_lag_records"
    }
    assert any(topic.endswith(".readings") for topic in lag_topics), lag_topics


def _request_series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every series labelled by a request's method or route."""
    return {
        (name, labels)
        for name, labels in _samples(text)
        if any(key in ("method", "route") for key, _ in labels)
    }


def test_made_up_methods_and_paths_do_not_grow_the_label_sets(server: ServerThread) -> None:
    """A second round of made-up methods and paths adds no series: every label is bounded."""

    def made_up_requests(http: httpx.Client, first: int) -> str:
        for i in range(first, first + 40):
            http.request(f"MADEUP{i}", f"/no/such/path/{i}")
            http.request(f"MADEUP{i}", "/api/machines")
        return http.get("/metrics").text

    with httpx.Client(base_url=server.url, timeout=20) as http:
        http.get("/metrics")  # the GET /metrics series exist from here on
        after_first = made_up_requests(http, 0)
        after_second = made_up_requests(http, 40)

    methods = {
        dict(labels)["method"]
        for name, labels in _samples(after_second)
        if name == "millstream_api_requests_total"
    }
    assert methods <= {"GET", "POST", "OTHER"}, methods
    assert "OTHER" in methods
    routes = {
        dict(labels)["route"]
        for name, labels in _samples(after_second)
        if name == "millstream_api_requests_total"
    }
    assert not any("/no/such" in route for route in routes)
    assert _request_series(after_second) == _request_series(after_first)
