"""/ready names what is down without echoing an exception's repr (addresses, secrets)."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import HistoryUnavailableError
from api.handlers import install_error_handlers
from api.routes import health


class _Failing:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def check(self, *, timeout_s: float) -> None:
        raise self.exc


def test_ready_reports_the_failed_check_by_kind_only() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(health.router)
    app.state.services = SimpleNamespace(
        settings=SimpleNamespace(ready_check_timeout_s=1.0),
        publisher=_Failing(RuntimeError("broker 10.9.8.7:9092 password=hunter2")),
        history=_Failing(HistoryUnavailableError("influxdb: does not answer")),
    )
    with TestClient(app) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["kafka"] == "kafka: check failed (RuntimeError)"
    assert body["influxdb"] == "influxdb: does not answer"
    assert "hunter2" not in response.text and "10.9.8.7" not in response.text
