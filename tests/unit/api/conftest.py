"""Fakes for unit tests of the API's HTTP mapping, which run without the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI

from api.auth.index import KeyIndex
from api.auth.roles import Identity
from api.security.metrics import ApiMetrics
from contracts.audit import AuditRecord


class KeysOnlyAuthenticator:
    """An :class:`api.auth.authenticator.Authenticator` that knows API keys only."""

    def __init__(self, keys: KeyIndex) -> None:
        self.keys = keys

    def authenticate(self, credential: str) -> Identity | None:
        return self.keys.authenticate(credential)

    def still_valid(self, identity: Identity) -> bool:
        record = self.keys.get(identity.key_id)
        return record is not None and record.role is identity.role


@dataclass
class KeptAudit:
    records: list[AuditRecord] = field(default_factory=list)

    def offer(self, record: AuditRecord) -> None:
        self.records.append(record)


@dataclass
class FakeSecurity:
    """Stands in for :class:`api.security.runtime.SecurityServices`: no users, no limits."""

    auth: KeysOnlyAuthenticator
    audit: KeptAudit = field(default_factory=KeptAudit)
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    limiter: None = None
    users: None = None


@pytest.fixture
def keys_only_security() -> Callable[[FastAPI, KeyIndex], FakeSecurity]:
    """Give an app (whose lifespan is not run) security that accepts the given keys."""

    def install(app: FastAPI, keys: KeyIndex) -> FakeSecurity:
        security = FakeSecurity(auth=KeysOnlyAuthenticator(keys))
        app.state.security = security
        return security

    return install
