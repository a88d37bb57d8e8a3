"""One log-level spelling for every service, and infra on the common settings base."""

from __future__ import annotations

import pytest

from api.settings import ApiSettings
from connectors.config.settings import ConnectorSettings
from contracts.errors import ConfigError
from contracts.settings import CommonSettings, load_settings
from infra.settings import InfraSettings
from pipeline.settings import PipelineSettings

SERVICES = [
    (ApiSettings, "MILLSTREAM_API_LOG_LEVEL", "log_level"),
    (ConnectorSettings, "MILLSTREAM_CONNECTOR_LOG_LEVEL", "connector_log_level"),
    (PipelineSettings, "MILLSTREAM_PIPELINE_LOG_LEVEL", "pipeline_log_level"),
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("LOG_LEVEL", "CONNECTOR_LOG_LEVEL", "PIPELINE_LOG_LEVEL", "TOPIC_PREFIX"):
        monkeypatch.delenv(f"MILLSTREAM_{name}", raising=False)


@pytest.mark.parametrize(("cls", "var", "field"), SERVICES)
@pytest.mark.parametrize("given", ["warning", "WARNING", "Warning"])
def test_every_service_takes_either_case_and_holds_upper_case(monkeypatch, cls, var, field, given):
    monkeypatch.setenv(var, given)

    assert getattr(load_settings(cls), field) == "WARNING"


@pytest.mark.parametrize(("cls", "var", "field"), SERVICES)
def test_every_service_defaults_to_info(cls, var, field):
    assert getattr(cls(), field) == "INFO"


@pytest.mark.parametrize(("cls", "var", "field"), SERVICES)
def test_an_unknown_level_is_refused_naming_the_variable(monkeypatch, cls, var, field):
    monkeypatch.setenv(var, "chatty")

    with pytest.raises(ConfigError, match=var):
        load_settings(cls)


def test_infra_reads_the_shared_fields_of_the_common_base(monkeypatch):
    monkeypatch.setenv("MILLSTREAM_TOPIC_PREFIX", "plant7")

    settings = InfraSettings()

    assert isinstance(settings, CommonSettings)
    assert settings.topic_prefix == "plant7"
    assert settings.topics == CommonSettings().topics
