"""``POST /api/auth/login`` (the guide's shape) and ``GET /api/auth/me``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth.roles import STATE_IDENTITY
from api.deps import Principal, SecurityDep
from api.errors import AuthenticationError
from api.security.ratelimit import RouteClass
from contracts.timefmt import format_ts

# JSONResponse (not the orjson default) so the OpenAPI schema shows the response models.
router = APIRouter(prefix="/api/auth", tags=["auth"], default_response_class=JSONResponse)


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    token_type: str = "bearer"  # noqa: S105 (the scheme, not a secret)
    expires_at: str = Field(description="When the token stops working (UTC, RFC 3339).")


class IdentityView(BaseModel):
    name: str
    role: str
    kind: str = Field(description="`api_key` or `user`.")
    principal: str = Field(description="How audit records name this caller.")


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={
        401: {"description": "Unknown user, wrong password or disabled user"},
        429: {
            "description": "Too many attempts from this address, too many failed logins for "
            "this user from this address, or for this user from all addresses"
        },
    },
)
async def login(body: LoginRequest, request: Request, security: SecurityDep) -> LoginResponse:
    """Exchange a username and password for a token (HS256 JWT with an expiry)."""
    limiter = security.limiter
    client = request.client.host if request.client else "unknown"
    pair = f"{client}/{body.username}"
    if limiter is not None:
        await limiter.enforce(RouteClass.login_ip, client)
        await limiter.refuse_if_exhausted(
            RouteClass.login, pair, what="failed logins for this user from this address"
        )
        await limiter.refuse_if_exhausted(
            RouteClass.login_user, body.username, what="failed logins for this user"
        )
    record = await security.users.verify(body.username, body.password)
    if record is None:
        if limiter is not None:
            await limiter.hit(RouteClass.login, pair)
            await limiter.hit(RouteClass.login_user, body.username)
        raise AuthenticationError("username or password: not valid")
    issued = security.auth.tokens.issue(
        username=record.username, user_id=record.user_id, token_version=record.token_version
    )
    identity = security.auth.authenticate(issued.token)
    if identity is not None:
        setattr(request.state, STATE_IDENTITY, identity)
    return LoginResponse(token=issued.token, expires_at=format_ts(issued.expires_at_s * 1000))


@router.get("/me", response_model=IdentityView)
async def me(identity: Principal) -> IdentityView:
    """Who the credential of this request belongs to."""
    return IdentityView(
        name=identity.name,
        role=identity.role.value,
        kind=identity.kind,
        principal=identity.principal,
    )
