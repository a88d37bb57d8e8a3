"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api.bodylimit import BodyLimitMiddleware
from api.handlers import install_error_handlers
from api.responses import OrjsonResponse
from api.routes import all_routers
from api.routes import audit as audit_routes
from api.routes import auth as auth_routes
from api.routes import keys as keys_routes
from api.routes import metrics as metrics_routes
from api.routes import users as users_routes
from api.security.metrics import ApiMetrics
from api.security.middleware import SecurityMiddleware
from api.security.runtime import running_security
from api.services import running_services
from api.settings import ApiSettings
from api.slashes import slash_redirect

API_VERSION = "0.1.0"


def create_app(settings: ApiSettings) -> FastAPI:
    """A new app; its lifespan starts the Kafka producer and readers, InfluxDB client,
    key store and live hub, and stops them on shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            running_services(settings) as services,
            running_security(settings, services, metrics) as security,
        ):
            app.state.services = services
            app.state.security = security
            metrics.watch_live(services.live_stats)
            try:
                yield
            finally:
                metrics.watch_live(None)
                del app.state.services
                del app.state.security

    app = FastAPI(
        title="Millstream API",
        version=API_VERSION,
        summary="Factory telemetry: machines, readings, history and live data.",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
    )
    metrics = ApiMetrics()
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityMiddleware)
    for router in all_routers():
        app.include_router(router)
    for module in (auth_routes, users_routes, keys_routes, audit_routes, metrics_routes):
        app.include_router(module.router)
    app.router.redirect_slashes = False
    app.router.default = slash_redirect(app.router.routes, app.router.default)
    return app
