"""Roles, ordered: an operator reads, an engineer also writes, an admin does everything."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


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


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller a request acts for, resolved from its credential."""

    key_id: str
    name: str
    role: Role
    method: Literal["api_key"] = "api_key"

    @property
    def source(self) -> str:
        """How readings posted by this caller are labelled: ``api:<key name>``."""
        return f"api:{self.name}"
