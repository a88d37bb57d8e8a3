"""Start-up checks of a deployment: secrets and transport, each problem naming its variable.

In ``development`` (the default) only broken configuration is refused; in ``production``
weak or default secrets and plain HTTP on a non-loopback address are refused too.
"""

from __future__ import annotations

import ipaddress

from pydantic import SecretStr

from api.auth.passwords import MIN_PASSWORD_CHARS
from api.env_names import api_variable
from api.settings import ApiSettings
from contracts.errors import ConfigError

MIN_SECRET_CHARS = 32
# Values copied from examples and templates; refused whatever their length.
KNOWN_DEFAULT_SECRETS = frozenset(
    s.lower()
    for s in (
        "changeme",
        "change-me",
        "changethis",
        "secret",
        "password",
        "admin",
        "apikey",
        "your-secret-key",
        "supersecret",
        "jwt-secret",
        "millstream",
        "development",
        "sk_prod_a1b2c3d4e5f6g7h8i9j0",
        "please-change-this-secret-in-production",
    )
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _weak_secret(value: SecretStr | None, *, min_chars: int) -> str | None:
    """Why ``value`` is not acceptable as a production secret, or ``None``."""
    if value is None:
        return "required outside development"
    secret = value.get_secret_value()
    if secret.lower() in KNOWN_DEFAULT_SECRETS:
        return "a known default value; use a random secret"
    if len(secret) < min_chars:
        return f"must be at least {min_chars} characters outside development"
    if len(set(secret)) < 8:
        return "too few distinct characters; use a random secret"
    return None


def deployment_problems(settings: ApiSettings) -> list[str]:
    """Everything wrong with ``settings`` for its mode, as ``VARIABLE: reason``."""
    problems: list[str] = []
    tls_files = (("api_tls_cert", settings.api_tls_cert), ("api_tls_key", settings.api_tls_key))
    for name, path in tls_files:
        if path is not None and not path.is_file():
            problems.append(f"{api_variable(name)}: {path} is not a readable file")
    if settings.env == "development":
        return problems
    for name, value, min_chars in (
        ("jwt_secret", settings.jwt_secret, MIN_SECRET_CHARS),
        ("admin_api_key", settings.admin_api_key, MIN_SECRET_CHARS),
    ):
        reason = _weak_secret(value, min_chars=min_chars)
        if reason:
            problems.append(f"{api_variable(name)}: {reason}")
    if settings.admin_password is not None:
        reason = _weak_secret(settings.admin_password, min_chars=MIN_PASSWORD_CHARS)
        if reason:
            problems.append(f"{api_variable('admin_password')}: {reason}")
    insecure = not settings.tls and not settings.api_allow_insecure_http
    if insecure and not is_loopback(settings.api_host):
        problems.append(
            f"MILLSTREAM_API_TLS_CERT and MILLSTREAM_API_TLS_KEY: required to serve on "
            f"{settings.api_host} outside development (or set "
            "MILLSTREAM_API_ALLOW_INSECURE_HTTP=true behind a TLS-terminating proxy)"
        )
    return problems


def check_deployment(settings: ApiSettings) -> None:
    problems = deployment_problems(settings)
    if problems:
        raise ConfigError("; ".join(problems))
