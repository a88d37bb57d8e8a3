"""The console is served at / (no-cache) and its hashed assets at /console/<name> (immutable)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import dashboard
from api.settings import ApiSettings

PAGE = '<!doctype html><script type="module" src="/console/app-AB12CD34.js"></script>'


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(dashboard, "console_dir", lambda: tmp_path)
    return tmp_path


def _client() -> TestClient:
    return TestClient(create_app(ApiSettings()))  # no lifespan: the console needs no services


def test_console_page_is_served_with_no_cache(built: Path) -> None:
    (built / "index.html").write_text(PAGE)
    resp = _client().get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.text == PAGE
    assert "/" not in _client().get("/openapi.json").json()["paths"]


def test_hashed_assets_are_immutable(built: Path) -> None:
    (built / "app-AB12CD34.js").write_text("console.log(1)")
    (built / "app-ZZ12CD34.css").write_text("body{}")
    js = _client().get("/console/app-AB12CD34.js")
    assert js.status_code == 200
    assert js.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert js.headers["content-type"].startswith("text/javascript")
    css = _client().get("/console/app-ZZ12CD34.css")
    assert css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "name", ["index.html", "app-AB12CD34.js.map", "app.js", "..%2Findex.html", "app-MISSING1.js"]
)
def test_only_existing_hashed_assets_are_served(built: Path, name: str) -> None:
    (built / "index.html").write_text(PAGE)
    (built / "app.js").write_text("unhashed")
    resp = _client().get(f"/console/{name}")
    assert resp.status_code == 404
    assert "detail" in resp.json()


def test_an_unbuilt_console_says_how_to_build_it(built: Path) -> None:
    resp = _client().get("/")
    assert resp.status_code == 503
    assert "make console" in resp.text and "make run" in resp.text
