"""Where the API is and how the command proves who it is.

A credential is an API key (``X-API-Key``, or ``?api_key=`` on the WebSocket), a login token
(``Authorization: Bearer``, or ``?token=``), or a user name and password exchanged for a token
at ``POST /api/auth/login``; with a password the token is fetched again when it expires.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from cli.errors import CliError

DEFAULT_URL = "http://127.0.0.1:8080"
ENV_URL = "MILLSTREAM_URL"
ENV_API_KEY = "MILLSTREAM_API_KEY"
ENV_TOKEN = "MILLSTREAM_TOKEN"  # noqa: S105 (the name of a variable, not a secret)
HTTP_TIMEOUT_S = 60.0


@dataclass
class Credential:
    """One of: ``api_key``; ``token``; ``user`` with ``password`` (a token is fetched)."""

    api_key: str = ""
    token: str = ""
    user: str = ""
    password: str = field(default="", repr=False)

    @property
    def can_refresh(self) -> bool:
        return bool(self.user and self.password)


@dataclass
class Api:
    """The API's base URL and the credential every request carries."""

    url: str
    credential: Credential

    @property
    def ws_url(self) -> str:
        parts = urlsplit(self.url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))

    def headers(self) -> dict[str, str]:
        if self.credential.api_key:
            return {"X-API-Key": self.credential.api_key}
        return {"Authorization": f"Bearer {self.credential.token}"}

    def live_url(self) -> str:
        """``ws://host:port/live?api_key=...`` (or ``?token=``)."""
        if self.credential.api_key:
            query = f"api_key={quote(self.credential.api_key, safe='')}"
        else:
            query = f"token={quote(self.credential.token, safe='')}"
        return f"{self.ws_url}/live?{query}"

    def client(self, *, timeout_s: float = HTTP_TIMEOUT_S) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=timeout_s)

    def login(self) -> None:
        """Exchange the user's password for a token (``POST /api/auth/login``)."""
        if not self.credential.can_refresh:
            return
        try:
            answer = httpx.post(
                f"{self.url}/api/auth/login",
                json={"username": self.credential.user, "password": self.credential.password},
                timeout=HTTP_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise CliError(f"{self.url}: cannot reach the API ({exc}); is it running?") from exc
        if answer.status_code != 200:
            raise CliError(f"login as {self.credential.user!r} refused: {detail_of(answer)}")
        self.credential.token = str(answer.json()["token"])


def detail_of(answer: httpx.Response) -> str:
    """The API's error text (``{"detail": ...}``), or the status line."""
    try:
        body: Any = answer.json()
    except ValueError:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}" for d in detail
        )
    return f"HTTP {answer.status_code}: {detail or answer.text[:200]}"


def read_password(user: str, *, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass(f"Password for {user}: ")


def resolve_api(
    *,
    url: str | None,
    api_key: str | None,
    token: str | None,
    user: str | None,
    password_stdin: bool = False,
    environ: dict[str, str] | None = None,
    ask: Callable[[str, bool], str] | None = None,
) -> Api:
    """The API and credential from the options, else ``MILLSTREAM_*`` variables; a user
    name is logged in at once (asking for the password)."""
    env = os.environ if environ is None else environ
    base = (url or env.get(ENV_URL) or DEFAULT_URL).rstrip("/")
    if not urlsplit(base).scheme.startswith("http"):
        raise CliError(f"--url: {base!r} must start with http:// or https://")
    if user:
        password = (ask or (lambda u, s: read_password(u, from_stdin=s)))(user, password_stdin)
        api = Api(base, Credential(user=user, password=password))
        api.login()
        return api
    key = api_key or ""
    bearer = token or ""
    if not key and not bearer:
        key = env.get(ENV_API_KEY, "")
        bearer = env.get(ENV_TOKEN, "")
    if not key and not bearer:
        raise CliError(
            "no credential: pass --api-key KEY (or set MILLSTREAM_API_KEY), --token TOKEN "
            "(from POST /api/auth/login), or --user NAME to log in"
        )
    return Api(base, Credential(api_key=key, token=bearer if not key else ""))
