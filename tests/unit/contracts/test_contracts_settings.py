"""Settings from the environment, and the error that names a bad variable."""

from __future__ import annotations

import pytest

from contracts.errors import ConfigError
from contracts.settings import CommonSettings, load_settings


def test_settings_read_millstream_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILLSTREAM_TOPIC_PREFIX", "plant7")
    monkeypatch.setenv("MILLSTREAM_INFLUX_TOKEN", "t0ken")
    settings = load_settings(CommonSettings)
    assert settings.topics.readings == "plant7.readings"
    assert settings.influx_token.get_secret_value() == "t0ken"
    assert "t0ken" not in repr(settings)


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    class Strict(CommonSettings):
        poll_interval_s: float = 1.0

    monkeypatch.setenv("MILLSTREAM_POLL_INTERVAL_S", "often")
    with pytest.raises(ConfigError, match=r"^MILLSTREAM_POLL_INTERVAL_S: Input should be a valid"):
        load_settings(Strict)
