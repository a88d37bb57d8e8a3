"""Connector settings come from MILLSTREAM_* variables; its own are MILLSTREAM_CONNECTOR_*."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.config.settings import ConnectorSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)


def test_defaults_produce_lz4_with_acks_all() -> None:
    settings = ConnectorSettings()
    assert settings.connector_devices_file == Path("devices.yaml")
    assert settings.connector_id.startswith("connector-")
    assert settings.connector_compression_type == "lz4"
    assert settings.connector_acks == "all"
    assert settings.connector_delivery_timeout_ms >= 300_000
    assert settings.topics.readings == "millstream.readings"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILLSTREAM_CONNECTOR_DEVICES_FILE", "/etc/millstream/devices.yaml")
    monkeypatch.setenv("MILLSTREAM_CONNECTOR_ID", "hall-b-1")
    monkeypatch.setenv("MILLSTREAM_CONNECTOR_LINGER_MS", "50")
    monkeypatch.setenv("MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("MILLSTREAM_TOPIC_PREFIX", "plant2")
    settings = ConnectorSettings()
    assert settings.connector_devices_file == Path("/etc/millstream/devices.yaml")
    assert settings.connector_id == "hall-b-1"
    assert settings.connector_linger_ms == 50
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.topics.readings == "plant2.readings"
    assert settings.topics.machines == "plant2.machines"


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILLSTREAM_CONNECTOR_COMPRESSION_TYPE", "brotli")
    with pytest.raises(ValidationError, match="connector_compression_type"):
        ConnectorSettings()


def test_settings_are_frozen() -> None:
    settings = ConnectorSettings()
    with pytest.raises(ValidationError):
        settings.connector_id = "other"  # type: ignore[misc]
