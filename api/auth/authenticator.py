"""One place that turns a credential (API key or login token) into an :class:`Identity`.

REST dependencies and the WebSocket both call :meth:`Authenticator.authenticate`; a
long-lived connection calls :meth:`Authenticator.still_valid` to notice a revoked key, a
deleted or disabled user, or a changed role or password. Both are in-memory lookups (one
SHA-256 or one HMAC check), cheap enough for every request and every few seconds.
"""

from __future__ import annotations

from api.auth.roles import Identity
from api.auth.store import ApiKeyStore
from api.auth.tokens import TokenIssuer, looks_like_jwt
from api.auth.user_store import UserStore


class Authenticator:
    def __init__(self, *, keys: ApiKeyStore, users: UserStore, tokens: TokenIssuer) -> None:
        self.keys = keys
        self.users = users
        self.tokens = tokens

    def authenticate(self, credential: str) -> Identity | None:
        """The caller behind an API key or a login token, or ``None`` if it is not valid."""
        if looks_like_jwt(credential):
            identity = self._from_token(credential)
            if identity is not None:
                return identity
        # a configured admin key may contain dots; keys are checked whatever the shape
        return self.keys.authenticate(credential)

    def _from_token(self, token: str) -> Identity | None:
        claims = self.tokens.decode(token)
        if claims is None:
            return None
        record = self.users.is_current(claims.username, claims.user_id, claims.token_version)
        if record is None:
            return None
        return Identity(
            key_id=f"user:{record.username}",
            name=record.username,
            role=record.role,
            method="user",
            token_version=record.token_version,
            user_id=record.user_id,
        )

    def still_valid(self, identity: Identity) -> bool:
        """``False`` once the key is revoked or the user deleted, disabled or changed."""
        if identity.method == "user":
            record = self.users.is_current(identity.name, identity.user_id, identity.token_version)
            return record is not None and record.role is identity.role
        record_key = self.keys.get(identity.key_id)
        return record_key is not None and record_key.role is identity.role
