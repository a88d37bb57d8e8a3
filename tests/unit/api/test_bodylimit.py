"""The body byte limit: refused from the declared length without reading, or while
streaming a chunked body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from api.bodylimit import BodyLimitMiddleware
from api.handlers import install_error_handlers


def _app(reads: list[int]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=100)

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        body = await request.body()
        reads.append(len(body))
        return {"bytes": len(body)}

    @app.post("/model")
    async def model(body: dict[str, Any]) -> dict[str, Any]:
        reads.append(len(body))
        return body

    return app


def test_declared_length_over_the_limit_is_413_before_the_route_runs() -> None:
    reads: list[int] = []
    with TestClient(_app(reads)) as client:
        response = client.post("/raw", content=b"x" * 101)
    assert response.status_code == 413
    assert response.json()["detail"] == "body: larger than the limit of 100 bytes"
    assert reads == []


@pytest.mark.parametrize("path", ["/raw", "/model"])
def test_chunked_body_is_cut_off_once_past_the_limit(path: str) -> None:
    reads: list[int] = []

    def chunks() -> Any:
        for _ in range(50):
            yield b'{"a": "' + b"x" * 40 + b'"}'

    with TestClient(_app(reads)) as client:
        response = client.post(path, content=chunks())
    assert response.status_code == 413, response.text
    assert reads == []


def test_body_within_the_limit_passes() -> None:
    reads: list[int] = []
    with TestClient(_app(reads)) as client:
        response = client.post("/model", json={"a": 1})
    assert response.status_code == 200 and response.json() == {"a": 1}
    assert reads == [1]
