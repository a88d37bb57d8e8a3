"""Roles, ordered: an operator reads, an engineer also writes, an admin does everything."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from contracts.errors import ContractError

# The key under which the credential check leaves the caller's Identity in request.state.
STATE_IDENTITY = "identity"


class Role(StrEnum):
    operator = "operator"
    engineer = "engineer"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANK = {Role.operator: 0, Role.engineer: 1, Role.admin: 2}


def parse_role(raw: object) -> Role:
    """A stored role; :class:`ContractError` naming the field if it is not one."""
    try:
        return Role(str(raw))
    except ValueError as exc:
        raise ContractError(f"role: {raw!r} is not one of operator, engineer, admin") from exc


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller a request acts for, resolved from its credential.

    ``method`` is the principal kind: ``api_key`` (``key_id`` is the key's id) or ``user``
    (a logged-in user; ``key_id`` is ``user:<name>``, ``user_id`` and ``token_version``
    the user's id and the version its token was issued at).
    """

    key_id: str
    name: str
    role: Role
    method: Literal["api_key", "user"] = "api_key"
    token_version: int = 0
    user_id: str = ""

    @property
    def kind(self) -> Literal["api_key", "user"]:
        return self.method

    @property
    def principal(self) -> str:
        """Who, as audit records name it: ``key:<key id>`` or ``user:<name>``."""
        return f"key:{self.key_id}" if self.method == "api_key" else f"user:{self.name}"

    @property
    def source(self) -> str:
        """How readings posted by this caller are labelled: ``api:<key name>``."""
        return f"api:{self.name}"
