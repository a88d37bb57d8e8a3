"""Deployment checks: production refuses weak secrets and plain HTTP off loopback,
naming the variable; development only refuses broken configuration."""

import os
import secrets

import pytest

from api.__main__ import main
from api.security.startup import deployment_problems, is_loopback
from api.settings import ApiSettings

STRONG = secrets.token_urlsafe(40)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)


def production(**overrides):
    values = {"env": "production", "jwt_secret": STRONG, "admin_api_key": "k" + STRONG}
    values.update(overrides)
    return ApiSettings(**values)


def test_a_strong_production_configuration_passes():
    assert deployment_problems(production()) == []


@pytest.mark.parametrize(
    ("overrides", "variable", "reason"),
    [
        ({"jwt_secret": None}, "MILLSTREAM_API_JWT_SECRET", "required"),
        ({"jwt_secret": "x9" * 8}, "MILLSTREAM_API_JWT_SECRET", "at least 32"),
        ({"jwt_secret": "your-secret-key"}, "MILLSTREAM_API_JWT_SECRET", "known default"),
        ({"jwt_secret": "ab" * 20}, "MILLSTREAM_API_JWT_SECRET", "distinct"),
        ({"admin_api_key": None}, "MILLSTREAM_API_ADMIN_API_KEY", "required"),
        ({"admin_api_key": "sk_prod_a1b2c3d4e5f6"}, "MILLSTREAM_API_ADMIN_API_KEY", "at least 32"),
        ({"admin_password": "abcabcabcabc"}, "MILLSTREAM_API_ADMIN_PASSWORD", "distinct"),
        ({"api_host": "0.0.0.0"}, "MILLSTREAM_API_TLS_CERT", "ALLOW_INSECURE_HTTP"),
    ],
)
def test_each_weakness_names_its_variable(overrides, variable, reason):
    problems = deployment_problems(production(**overrides))

    assert len(problems) == 1, problems
    assert problems[0].startswith(variable + ": ") or problems[0].startswith(variable + " ")
    assert reason in problems[0]


def test_insecure_http_off_loopback_only_when_allowed():
    assert deployment_problems(production(api_host="0.0.0.0", api_allow_insecure_http=True)) == []
    assert deployment_problems(production(api_host="::1")) == []


def test_development_accepts_defaults_but_not_missing_tls_files(tmp_path):
    assert deployment_problems(ApiSettings(api_host="0.0.0.0")) == []
    missing = ApiSettings(api_tls_cert=tmp_path / "no.pem", api_tls_key=tmp_path / "no.key")

    problems = deployment_problems(missing)

    assert [p.split(":")[0] for p in problems] == [
        "MILLSTREAM_API_TLS_CERT",
        "MILLSTREAM_API_TLS_KEY",
    ]


def test_tls_cert_without_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match="api_tls_cert and api_tls_key"):
        ApiSettings(api_tls_cert=tmp_path / "c.pem")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.0.2.5", False),
        ("api.example.com", False),
    ],
)
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_python_m_api_refuses_to_start_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("MILLSTREAM_API_ENV", "production")
    monkeypatch.setenv("MILLSTREAM_API_ADMIN_API_KEY", "k" + STRONG)
    monkeypatch.setenv("MILLSTREAM_API_JWT_SECRET", "changethis")

    assert main(["serve"]) == 2

    err = capsys.readouterr().err
    assert "MILLSTREAM_API_JWT_SECRET: a known default value" in err
    assert STRONG not in err
