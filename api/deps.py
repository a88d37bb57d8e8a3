"""FastAPI dependencies, declared once as ``Annotated`` aliases.

``Principal`` is any authenticated caller; ``Engineer`` and ``Admin`` also check the role
(operator < engineer < admin). A missing or unknown key is ``401``, a too-low role ``403``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.auth.roles import Identity, Role
from api.auth.store import ApiKeyStore
from api.errors import AuthenticationError, PermissionDeniedError, UnavailableError
from api.history.reader import HistoryReader
from api.kafka.producer import KafkaPublisher
from api.machines.registry import MachineRegistry
from api.services import Services
from api.settings import ApiSettings

API_KEY_HEADER = "X-API-Key"

_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key (role operator, engineer or admin).",
)


async def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise UnavailableError("api: starting up or shutting down")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


async def get_publisher(services: ServicesDep) -> KafkaPublisher:
    return services.publisher


async def get_key_store(services: ServicesDep) -> ApiKeyStore:
    return services.keys


async def get_machines(services: ServicesDep) -> MachineRegistry:
    return services.machines


async def get_history(services: ServicesDep) -> HistoryReader:
    return services.history


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
PublisherDep = Annotated[KafkaPublisher, Depends(get_publisher)]
KeyStoreDep = Annotated[ApiKeyStore, Depends(get_key_store)]
MachinesDep = Annotated[MachineRegistry, Depends(get_machines)]
HistoryDep = Annotated[HistoryReader, Depends(get_history)]


async def current_identity(
    keys: KeyStoreDep, api_key: Annotated[str | None, Security(_api_key_header)]
) -> Identity:
    if not api_key:
        raise AuthenticationError(
            f"missing credential: send an API key in the {API_KEY_HEADER} header"
        )
    identity = keys.authenticate(api_key)
    if identity is None:
        raise AuthenticationError(f"{API_KEY_HEADER}: not a valid API key")
    return identity


Principal = Annotated[Identity, Depends(current_identity)]


def require_role(required: Role) -> Callable[[Identity], Awaitable[Identity]]:
    async def check(identity: Principal) -> Identity:
        if not identity.role.at_least(required):
            raise PermissionDeniedError(
                f"role {required.value} or higher required; "
                f"key {identity.name!r} has role {identity.role.value}"
            )
        return identity

    return check


Engineer = Annotated[Identity, Depends(require_role(Role.engineer))]
Admin = Annotated[Identity, Depends(require_role(Role.admin))]
