"""FastAPI dependencies, declared once as ``Annotated`` aliases.

``Principal`` is any authenticated caller; ``Engineer`` and ``Admin`` also check the role
(operator < engineer < admin). A credential is an API key in ``X-API-Key`` or, in
``Authorization: Bearer``, a login token or an API key. A missing or unknown credential is
``401``, a too-low role ``403``; each authenticated request also counts against the
caller's rate limit for its route class (``429``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.requests import HTTPConnection
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.alarms.store import AlarmStore
from api.auth.roles import STATE_IDENTITY, Identity, Role
from api.auth.store import ApiKeyStore
from api.commands.tracker import CommandTracker
from api.errors import AuthenticationError, PermissionDeniedError, UnavailableError
from api.history.plants import PlantHistory
from api.kafka.producer import KafkaPublisher
from api.machines.registry import MachineRegistry
from api.maintenance.store import MaintenanceStore
from api.security.errors import RateLimitedError
from api.security.ratelimit import STATE_RATE, RouteClass, route_class
from api.security.runtime import SecurityServices
from api.services import Services
from api.settings import ApiSettings
from api.thresholds.store import ThresholdsStore

API_KEY_HEADER = "X-API-Key"

T = TypeVar("T")

_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key (role operator, engineer or admin).",
)
_bearer = HTTPBearer(
    auto_error=False,
    description="A login token from POST /api/auth/login (or an API key).",
)


def _running(connection: HTTPConnection, name: str) -> Any:
    """What start-up put on ``app.state`` under ``name``; 503 while starting or stopping."""
    value = getattr(connection.app.state, name, None)
    if value is None:
        raise UnavailableError("api: starting up or shutting down")
    return value


async def get_services(request: Request) -> Services:
    services: Services = _running(request, "services")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def _from_services(pick: Callable[[Services], T]) -> Callable[[Services], Awaitable[T]]:
    """A dependency handing a route one of the running services."""

    async def dependency(services: ServicesDep) -> T:
        return pick(services)

    return dependency


get_publisher = _from_services(lambda s: s.publisher)
get_key_store = _from_services(lambda s: s.keys)
get_machines = _from_services(lambda s: s.machines)
get_history = _from_services(lambda s: s.history)
get_maintenance = _from_services(lambda s: s.maintenance)
get_alarm_store = _from_services(lambda s: s.alarms)
get_thresholds_store = _from_services(lambda s: s.thresholds)
get_command_tracker = _from_services(lambda s: s.commands)


async def get_security(connection: HTTPConnection) -> SecurityServices:
    """The security services (also usable from WebSocket routes)."""
    security: SecurityServices = _running(connection, "security")
    return security


SecurityDep = Annotated[SecurityServices, Depends(get_security)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
PublisherDep = Annotated[KafkaPublisher, Depends(get_publisher)]
KeyStoreDep = Annotated[ApiKeyStore, Depends(get_key_store)]
MachinesDep = Annotated[MachineRegistry, Depends(get_machines)]
HistoryDep = Annotated[PlantHistory, Depends(get_history)]
AlarmStoreDep = Annotated[AlarmStore, Depends(get_alarm_store)]
ThresholdsStoreDep = Annotated[ThresholdsStore, Depends(get_thresholds_store)]
CommandTrackerDep = Annotated[CommandTracker, Depends(get_command_tracker)]
MaintenanceDep = Annotated[MaintenanceStore, Depends(get_maintenance)]


async def current_identity(
    request: Request,
    security: SecurityDep,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Identity:
    credential = api_key or (bearer.credentials if bearer is not None else None)
    if not credential:
        raise AuthenticationError(
            f"missing credential: send an API key in the {API_KEY_HEADER} header "
            "or a token in Authorization: Bearer"
        )
    client = request.client.host if request.client else "unknown"
    if security.limiter is not None:
        await security.limiter.refuse_if_exhausted(RouteClass.auth_failures, client)
    identity = security.auth.authenticate(credential)
    if identity is None:
        if security.limiter is not None:
            await security.limiter.hit(RouteClass.auth_failures, client)
        if api_key:
            raise AuthenticationError(f"{API_KEY_HEADER}: not a valid API key")
        raise AuthenticationError("Authorization: not a valid login token or API key")
    setattr(request.state, STATE_IDENTITY, identity)
    if security.limiter is not None:
        cls = route_class(request.method, request.url.path)
        try:
            decision = await security.limiter.enforce(cls, identity.principal)
        except RateLimitedError:
            security.metrics.rate_limited.labels(route_class=cls.value).inc()
            raise
        setattr(request.state, STATE_RATE, decision)
    return identity


Principal = Annotated[Identity, Depends(current_identity)]


def role_refusal(identity: Identity, required: Role) -> PermissionDeniedError | None:
    """The 403 for ``identity`` where ``required`` is needed, or ``None`` if it may."""
    if identity.role.at_least(required):
        return None
    return PermissionDeniedError(
        f"role {required.value} or higher required; "
        f"{'key' if identity.kind == 'api_key' else 'user'} {identity.name!r} "
        f"has role {identity.role.value}"
    )


def require_role(required: Role) -> Callable[[Identity], Awaitable[Identity]]:
    async def check(identity: Principal) -> Identity:
        refused = role_refusal(identity, required)
        if refused is not None:
            raise refused
        return identity

    check.required_role = required  # type: ignore[attr-defined]  # read by api.authfirst
    return check


Engineer = Annotated[Identity, Depends(require_role(Role.engineer))]
Admin = Annotated[Identity, Depends(require_role(Role.admin))]
