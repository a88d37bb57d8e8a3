"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api.handlers import install_error_handlers
from api.responses import OrjsonResponse
from api.routes import all_routers
from api.services import running_services
from api.settings import ApiSettings

API_VERSION = "0.1.0"


def create_app(settings: ApiSettings) -> FastAPI:
    """A new app; its lifespan starts the Kafka producer and readers, InfluxDB client,
    key store and live hub, and stops them on shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings) as services:
            app.state.services = services
            try:
                yield
            finally:
                del app.state.services

    app = FastAPI(
        title="Millstream API",
        version=API_VERSION,
        summary="Factory telemetry: machines, readings, history and live data.",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in all_routers():
        app.include_router(router)
    return app
