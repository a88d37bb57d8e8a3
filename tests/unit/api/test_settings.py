import os
import warnings
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.env_names import DeprecatedVariableWarning, renamed_variables
from api.settings import ApiSettings
from contracts.errors import ConfigError
from contracts.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)


def test_defaults_and_environment(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_API_PORT", "9090")
    monkeypatch.setenv("MILLSTREAM_API_ADMIN_API_KEY", "sk_prod_a1b2c3d4e5f6")
    monkeypatch.setenv("MILLSTREAM_API_LIVE_QUEUE_FRAMES", "50")

    settings = ApiSettings()

    assert settings.api_host == "127.0.0.1"
    assert settings.api_port == 9090
    assert settings.admin_api_key is not None
    assert settings.admin_api_key.get_secret_value() == "sk_prod_a1b2c3d4e5f6"
    assert "a1b2" not in repr(settings)
    assert settings.live_queue_frames == 50
    assert settings.base_url() == "http://127.0.0.1:9090"


def test_empty_admin_key_is_unset(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_API_ADMIN_API_KEY", "")

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


def test_api_fields_read_the_api_prefix_and_shared_fields_their_common_names(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_API_MAX_BATCH_READINGS", "42")
    monkeypatch.setenv("MILLSTREAM_API_ENV", "production")
    monkeypatch.setenv("MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS", "192.0.2.7:9092")
    monkeypatch.setenv("MILLSTREAM_INFLUX_BUCKET", "plant")

    settings = ApiSettings()

    assert settings.max_batch_readings == 42
    assert settings.env == "production"
    assert settings.kafka_bootstrap_servers == "192.0.2.7:9092"
    assert settings.influx_bucket == "plant"


def test_an_old_name_still_works_with_a_warning_naming_the_new_one(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_MAX_BATCH_READINGS", "42")

    with pytest.warns(DeprecatedVariableWarning, match="set MILLSTREAM_API_MAX_BATCH_READINGS"):
        settings = ApiSettings()

    assert settings.max_batch_readings == 42


def test_the_new_name_wins_over_the_old(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_RATE_LIMIT_READ", "1/second")
    monkeypatch.setenv("MILLSTREAM_API_RATE_LIMIT_READ", "7/second")

    with pytest.warns(DeprecatedVariableWarning, match="MILLSTREAM_API_RATE_LIMIT_READ is set"):
        settings = ApiSettings()

    assert settings.rate_limit_read == "7/second"


def test_new_names_alone_warn_of_nothing(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_API_LIVE_QUEUE_FRAMES", "50")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ApiSettings().live_queue_frames == 50


def test_a_bad_value_names_the_new_variable(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_API_MAX_BATCH_READINGS", "0")
    monkeypatch.setenv("MILLSTREAM_API_PORT", "port")

    with pytest.raises(ConfigError) as refused:
        load_settings(ApiSettings)

    assert "MILLSTREAM_API_MAX_BATCH_READINGS: Input should be greater" in str(refused.value)
    assert "MILLSTREAM_API_PORT: Input should be a valid integer" in str(refused.value)


def test_the_changelog_lists_every_rename():
    renames = renamed_variables(ApiSettings.model_fields)
    changelog = (Path(__file__).parents[3] / "CHANGELOG.md").read_text()

    assert len(renames) == 40
    for old, new in renames.items():
        assert f"| `{old}` | `{new}` |" in changelog
    assert "MILLSTREAM_INFLUX_URL" not in renames
    assert "MILLSTREAM_API_PORT" not in renames
