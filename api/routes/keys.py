"""API keys, managed by admins: ``/api/keys`` and ``/api/keys/{key_id}``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth.keys import ApiKeyRecord
from api.auth.roles import Role
from api.deps import Admin, KeyStoreDep
from api.errors import NotFoundError

# JSONResponse (not the orjson default) so the OpenAPI schema shows the response models.
router = APIRouter(prefix="/api/keys", tags=["keys"], default_response_class=JSONResponse)


class KeyView(BaseModel):
    key_id: str
    name: str
    role: Role
    created: str


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Who uses it: scada-line-3")
    role: Role = Role.operator


class MintedKeyView(KeyView):
    secret: str = Field(description="Shown once, never stored: keep it now.")


def _view(record: ApiKeyRecord) -> KeyView:
    return KeyView(key_id=record.key_id, name=record.name, role=record.role, created=record.created)


@router.post("", status_code=201, response_model=MintedKeyView)
async def create_key(body: NewKey, admin: Admin, keys: KeyStoreDep) -> MintedKeyView:
    """Mint a key; the answer is the only place its secret ever appears."""
    minted = await keys.create(name=body.name, role=body.role)
    return MintedKeyView(**_view(minted.record).model_dump(), secret=minted.secret)


@router.get("", response_model=list[KeyView])
async def list_keys(admin: Admin, keys: KeyStoreDep) -> list[KeyView]:
    """Every key, without secrets or hashes."""
    return [_view(r) for r in keys.records()]


@router.delete("/{key_id}", status_code=204, response_class=Response, responses={404: {}})
async def revoke_key(key_id: str, admin: Admin, keys: KeyStoreDep) -> Response:
    """Revoke a key on every replica; requests with it answer 401 from then on."""
    if not await keys.revoke(key_id):
        raise NotFoundError(f"key {key_id}: not found")
    return Response(status_code=204)
