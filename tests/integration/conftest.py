"""Fixtures for the API's integration tests: one server per test module.

A module states what is special about it by defining ``api_settings`` (module scope, usually
``make_api_settings(partitions=..., **options)``); it gets ``app``, ``server`` and an
``http`` client for that server from here. ``http`` sends ``http_headers`` with every
request (none by default; ``admin_headers`` for a module whose requests act as admin) and
times out after the module's ``DEADLINE_S`` (20 s where it has none). ``producer`` writes
to the module's topics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from apiserver import ServerThread
from fastapi import FastAPI

from api.app import create_app
from api.settings import ApiSettings
from contracts.settings import CommonSettings
from kafka_edge.aio_clients import aio_producer
from kafka_edge.connection import KafkaConnection, ProducerSettings

HTTP_TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def make_api_settings(
    make_settings: Callable[..., CommonSettings], admin_key: str
) -> Callable[..., ApiSettings]:
    """API settings on topics of the module's own, with the module's admin key."""

    def make(*, partitions: int = 1, **options: Any) -> ApiSettings:
        return ApiSettings(
            **make_settings(partitions=partitions).model_dump(), admin_api_key=admin_key, **options
        )

    return make


@pytest.fixture(scope="module")
def app(api_settings: ApiSettings) -> FastAPI:
    return create_app(api_settings)


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[ServerThread]:
    """One server for every test of the module."""
    with ServerThread(app) as running:
        yield running


@pytest.fixture(scope="module")
def admin_headers(admin_key: str) -> dict[str, str]:
    return {"X-API-Key": admin_key}


@pytest.fixture
def http_headers() -> dict[str, str]:
    return {}


@pytest.fixture
async def http(
    request: pytest.FixtureRequest, server: ServerThread, http_headers: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    timeout_s = getattr(request.module, "DEADLINE_S", HTTP_TIMEOUT_S)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=timeout_s, headers=http_headers
    ) as client:
        yield client


@pytest.fixture
async def producer(api_settings: ApiSettings) -> AsyncIterator[AIOKafkaProducer]:
    kafka = aio_producer(KafkaConnection.from_settings(api_settings), ProducerSettings())
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()
