"""The dashboard page is served at / and speaks the live protocol."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings


def test_dashboard_page_subscribes_over_the_live_websocket() -> None:
    client = TestClient(create_app(ApiSettings()))  # no lifespan: the page needs no services
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert "/live?api_key=" in page
    assert "action: 'subscribe'" in page
    assert "/" not in client.get("/openapi.json").json()["paths"]
