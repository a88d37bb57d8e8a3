"""API keys: minting, hashing, and the record kept on the api-keys topic.

Wire format (JSON, key = key id; a tombstone revokes the key)::

    {"key_id": "3f9c0d1a2b4e5f60", "sha256": "<hex of the secret's SHA-256>",
     "role": "engineer", "name": "scada-line-3", "created": "2025-12-20T14:30:00.000Z"}

Secrets are 256-bit random strings, so a plain SHA-256 is the right hash: a slow
password hash (argon2) adds nothing against brute force of such a secret and would cost
every request. The secret itself is returned once, when minted, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from api.auth.roles import Role, parse_role
from contracts.codec import decode_object
from contracts.errors import ContractError
from contracts.timefmt import format_ts

KEY_PREFIX = "msk_"
# The key id under which the configured MILLSTREAM_API_ADMIN_API_KEY is kept.
BOOTSTRAP_ADMIN_KEY_ID = "bootstrap-admin"

_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_MAX_NAME = 100


def hash_secret(secret: str) -> str:
    """The lowercase hex SHA-256 of an API key secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def digests_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    sha256: str
    role: Role
    name: str
    created: str

    def __post_init__(self) -> None:
        if not _KEY_ID.match(self.key_id):
            raise ContractError(f"key_id: {self.key_id!r} is not a valid key id")
        if not _SHA256_HEX.match(self.sha256):
            raise ContractError("sha256: must be 64 lowercase hex digits")
        if not self.name or len(self.name) > _MAX_NAME:
            raise ContractError(f"name: must be 1-{_MAX_NAME} characters")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "sha256": self.sha256,
            "role": self.role.value,
            "name": self.name,
            "created": self.created,
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def key(self) -> bytes:
        return self.key_id.encode()

    def matches(self, secret: str) -> bool:
        return digests_equal(self.sha256, hash_secret(secret))


def decode_key_record(data: bytes) -> ApiKeyRecord:
    obj = decode_object(data, "api key")
    for name in ("key_id", "sha256", "role", "name", "created"):
        if not isinstance(obj.get(name), str):
            raise ContractError(f"{name}: required, a string")
    role = parse_role(obj["role"])
    return ApiKeyRecord(
        key_id=obj["key_id"],
        sha256=obj["sha256"],
        role=role,
        name=obj["name"],
        created=obj["created"],
    )


@dataclass(frozen=True, slots=True)
class MintedKey:
    """A new key: the secret (shown once, never stored) and the record to publish."""

    secret: str = field(repr=False)
    record: ApiKeyRecord


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def mint_key(*, name: str, role: Role, created_ms: int) -> MintedKey:
    """A fresh random key ``msk_...`` with a random key id."""
    secret = new_secret()
    record = ApiKeyRecord(
        key_id=secrets.token_hex(8),
        sha256=hash_secret(secret),
        role=role,
        name=name,
        created=format_ts(created_ms),
    )
    return MintedKey(secret=secret, record=record)


def bootstrap_admin_record(secret: str, *, created_ms: int) -> ApiKeyRecord:
    """The record that makes the configured admin secret a valid admin key."""
    return ApiKeyRecord(
        key_id=BOOTSTRAP_ADMIN_KEY_ID,
        sha256=hash_secret(secret),
        role=Role.admin,
        name=BOOTSTRAP_ADMIN_KEY_ID,
        created=format_ts(created_ms),
    )
