"""Users: the record kept on the compacted users topic and the in-memory index of it.

Wire format (JSON, key = username; a tombstone deletes the user)::

    {"username": "alice", "user_id": "Jx3...", "password_hash": "$argon2id$...",
     "role": "engineer", "disabled": false, "token_version": 3, "created": "...",
     "updated": "..."}

``user_id`` is drawn at random when the user is created, so a user deleted and created again
under the same name is another user. ``token_version`` grows whenever the password, role or
``disabled`` changes; a token carries the id and the version it was issued under and stops
working once the record moves on or the user is gone, whatever is created under the name.
A record written before ``user_id`` existed takes ``created:<created>`` as its id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import orjson

from api.auth.roles import Role, parse_role
from api.kafka.keyed import KeyedTable, text_key
from contracts.codec import decode_object
from contracts.errors import ContractError

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise ValueError("1-64 characters: letters, digits and _ . @ - (not first)")
    return username


@dataclass(frozen=True, slots=True)
class UserRecord:
    username: str
    user_id: str
    password_hash: str
    role: Role
    disabled: bool
    token_version: int
    created: str
    updated: str

    def __post_init__(self) -> None:
        if not USERNAME.fullmatch(self.username):
            raise ContractError(f"username: {self.username!r} is not a valid username")
        if not self.password_hash.startswith("$argon2"):
            raise ContractError("password_hash: must be an argon2 hash")
        if self.token_version < 0:
            raise ContractError("token_version: must not be negative")
        if not self.user_id:
            raise ContractError("user_id: required")

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "user_id": self.user_id,
            "password_hash": self.password_hash,
            "role": self.role.value,
            "disabled": self.disabled,
            "token_version": self.token_version,
            "created": self.created,
            "updated": self.updated,
        }

    def view(self) -> dict[str, Any]:
        """What the REST API shows: everything but the hash."""
        return {
            "username": self.username,
            "role": self.role.value,
            "disabled": self.disabled,
            "created": self.created,
            "updated": self.updated,
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def key(self) -> bytes:
        return self.username.encode()

    def changed(self, *, updated: str, **changes: Any) -> UserRecord:
        """A copy with ``changes`` applied and the token version moved on."""
        return replace(self, updated=updated, token_version=self.token_version + 1, **changes)


def decode_user_record(data: bytes) -> UserRecord:
    obj = decode_object(data, "user")
    for name in ("username", "password_hash", "role", "created", "updated"):
        if not isinstance(obj.get(name), str):
            raise ContractError(f"{name}: required, a string")
    if not isinstance(obj.get("disabled"), bool):
        raise ContractError("disabled: required, a boolean")
    version = obj.get("token_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ContractError("token_version: required, an integer")
    role = parse_role(obj["role"])
    user_id = obj.get("user_id", f"created:{obj['created']}")
    if not isinstance(user_id, str):
        raise ContractError("user_id: must be a string")
    return UserRecord(
        username=obj["username"],
        user_id=user_id,
        password_hash=obj["password_hash"],
        role=role,
        disabled=obj["disabled"],
        token_version=version,
        created=obj["created"],
        updated=obj["updated"],
    )


class UserIndex(KeyedTable[str, UserRecord]):
    """Applies users-topic records in offset order; answers lookups by username."""

    def __init__(self) -> None:
        super().__init__(
            parse_key=text_key, decode=decode_user_record, key_of=lambda r: r.username, what="user"
        )

    def records(self) -> list[UserRecord]:
        return sorted(self.values(), key=lambda r: r.username)
