"""Authenticate before answering about a body: a route's credential and role are checked
before its unparseable JSON is reported.

FastAPI decodes a JSON body before it runs a route's dependencies, so a body that is not
JSON was answered ``422`` to anyone, credential or not. :func:`credential_error` is asked by
the validation-error handler, for that one case, whether the caller would have been
refused: ``401`` without a valid credential, ``403`` with too low a role.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials

from api.auth.roles import Role
from api.deps import API_KEY_HEADER, current_identity, get_security, role_refusal
from api.errors import ApiError


def route_needs(dependant: Dependant) -> tuple[bool, Role | None]:
    """Whether the route needs a caller, and the least role it needs (``None``: any)."""
    needs, role = False, None
    for dep in dependant.dependencies:
        sub_needs, sub_role = route_needs(dep)
        required = getattr(dep.call, "required_role", None)
        needs = needs or sub_needs or dep.call is current_identity
        role = required if isinstance(required, Role) else (role or sub_role)
    return needs, role


def _bearer(request: Request) -> HTTPAuthorizationCredentials | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials.strip())


async def credential_error(request: Request) -> ApiError | None:
    """The 401, 403 or 429 the route's dependencies would have raised, or ``None``."""
    route: Any = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant):
        return None
    needs, role = route_needs(dependant)
    if not needs:
        return None
    try:
        identity = await current_identity(
            request,
            security=await get_security(request),
            api_key=request.headers.get(API_KEY_HEADER),
            bearer=_bearer(request),
        )
    except ApiError as exc:
        return exc
    return None if role is None else role_refusal(identity, role)
