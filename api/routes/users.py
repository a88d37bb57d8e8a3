"""Users, managed by admins: ``/api/users`` and ``/api/users/{username}``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from api.auth.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, check_password_policy
from api.auth.roles import Role
from api.auth.user_store import UserExistsError
from api.auth.users import UserRecord, check_username
from api.deps import Admin, SecurityDep
from api.errors import ConflictError, NotFoundError

# JSONResponse (not the orjson default) so the OpenAPI schema shows the response models.
router = APIRouter(prefix="/api/users", tags=["users"], default_response_class=JSONResponse)


class UserView(BaseModel):
    username: str
    role: Role
    disabled: bool
    created: str
    updated: str


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)
    role: Role = Role.operator

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        return check_username(value)

    @field_validator("password")
    @classmethod
    def _policy(cls, value: str) -> str:
        check_password_policy(value)
        return value


class UserChange(BaseModel):
    role: Role | None = None
    password: str | None = Field(
        default=None, min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS
    )
    disabled: bool | None = None

    @field_validator("password")
    @classmethod
    def _policy(cls, value: str | None) -> str | None:
        if value is not None:
            check_password_policy(value)
        return value


def _view(record: UserRecord) -> UserView:
    return UserView.model_validate(record.view())


def _existing(security: SecurityDep, username: str) -> UserRecord:
    record = security.users.get(username)
    if record is None:
        raise NotFoundError(f"user {username}: not found")
    return record


@router.post("", status_code=201, response_model=UserView, responses={409: {}})
async def create_user(body: NewUser, admin: Admin, security: SecurityDep) -> UserView:
    """Create a user; the password is stored only as an argon2 hash."""
    try:
        record = await security.users.create(
            username=body.username, password=body.password, role=body.role
        )
    except UserExistsError as exc:
        raise ConflictError(f"user {body.username}: already exists") from exc
    return _view(record)


@router.get("", response_model=list[UserView])
async def list_users(admin: Admin, security: SecurityDep) -> list[UserView]:
    return [_view(r) for r in security.users.records()]


@router.get("/{username}", response_model=UserView, responses={404: {}})
async def get_user(username: str, admin: Admin, security: SecurityDep) -> UserView:
    return _view(_existing(security, username))


@router.patch("/{username}", response_model=UserView, responses={404: {}})
async def change_user(
    username: str, body: UserChange, admin: Admin, security: SecurityDep
) -> UserView:
    """Change role, password or ``disabled``; the user's earlier tokens stop working."""
    record = await security.users.update(
        _existing(security, username),
        role=body.role,
        password=body.password,
        disabled=body.disabled,
    )
    return _view(record)


@router.delete("/{username}", status_code=204, response_class=Response, responses={404: {}})
async def delete_user(username: str, admin: Admin, security: SecurityDep) -> Response:
    """Delete a user; its tokens stop working at once on every replica that has read it."""
    if not await security.users.delete(username):
        raise NotFoundError(f"user {username}: not found")
    return Response(status_code=204)
