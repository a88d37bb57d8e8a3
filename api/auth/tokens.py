"""Login tokens: HS256 JWTs (PyJWT) naming the user, the user's id (``uid``: a user created
again under the same name has another) and the version they were issued at."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ISSUER = "millstream-api"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at_s: int


@dataclass(frozen=True, slots=True)
class TokenClaims:
    username: str
    user_id: str
    token_version: int
    issued_at_s: int
    expires_at_s: int


def looks_like_jwt(credential: str) -> bool:
    """API keys never contain dots; a JWT is three base64url parts joined by dots."""
    return credential.count(".") == 2


class TokenIssuer:
    """Signs and checks tokens with one secret; the secret never leaves this object."""

    def __init__(self, *, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(
        self, *, username: str, user_id: str, token_version: int, now_s: int | None = None
    ) -> IssuedToken:
        issued = int(time.time()) if now_s is None else now_s
        expires = issued + self.ttl_s
        claims = {
            "sub": username,
            "uid": user_id,
            "ver": token_version,
            "iat": issued,
            "exp": expires,
            "iss": ISSUER,
        }
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=ALGORITHM), expires)

    def decode(self, token: str) -> TokenClaims | None:
        """The claims of a valid, unexpired token signed with our secret; else ``None``."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["sub", "uid", "ver", "iat", "exp", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        sub, uid, ver = claims.get("sub"), claims.get("uid"), claims.get("ver")
        if not isinstance(sub, str) or not isinstance(uid, str):
            return None
        if isinstance(ver, bool) or not isinstance(ver, int):
            return None
        return TokenClaims(
            username=sub,
            user_id=uid,
            token_version=ver,
            issued_at_s=int(claims["iat"]),
            expires_at_s=int(claims["exp"]),
        )
