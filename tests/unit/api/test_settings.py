import os

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)


def test_defaults_and_environment(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_API_PORT", "9090")
    monkeypatch.setenv("MILLSTREAM_ADMIN_API_KEY", "sk_prod_a1b2c3d4e5f6")
    monkeypatch.setenv("MILLSTREAM_LIVE_QUEUE_FRAMES", "50")

    settings = ApiSettings()

    assert settings.api_host == "127.0.0.1"
    assert settings.api_port == 9090
    assert settings.admin_api_key is not None
    assert settings.admin_api_key.get_secret_value() == "sk_prod_a1b2c3d4e5f6"
    assert "a1b2" not in repr(settings)
    assert settings.live_queue_frames == 50
    assert settings.base_url() == "http://127.0.0.1:9090"


def test_empty_admin_key_is_unset(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_ADMIN_API_KEY", "")

    assert ApiSettings().admin_api_key is None


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("short", "at least 12 characters"),
        ("changeme", "placeholder"),
        # long enough, so only the placeholder rule can refuse these
        ("my-password-2024", "placeholder"),
        ("aaaaaaaaaaaaaaaa", "placeholder"),
    ],
)
def test_weak_admin_keys_are_refused(key, reason):
    with pytest.raises(ValidationError, match="admin_api_key") as refused:
        ApiSettings(admin_api_key=key)

    assert reason in str(refused.value)


def test_a_placeholder_is_refused_whatever_its_case():
    with pytest.raises(ValidationError, match="placeholder"):
        ApiSettings(admin_api_key="CHANGEME-CHANGEME")


def test_default_limit_must_fit_the_maximum():
    with pytest.raises(ValidationError, match="readings_default_limit"):
        ApiSettings(readings_default_limit=10, readings_max_limit=5)
