"""The plant map (MILLSTREAM_INFLUX_PLANTS): its forms, and a bad value refused at start-up
naming the variable, the plant and the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contracts.errors import ConfigError
from contracts.influx_servers import InfluxServer, PlantServers, parse_plant_map
from contracts.settings import CommonSettings, load_settings

MAP = (
    '{"hall-a": "http://192.0.2.10:8086", "hall b": {"url": "https://192.0.2.11:8086/",'
    ' "org": "b-org", "token_env": "TOKEN_HALL_B"}, "hall-c": "http://192.0.2.10:8086"}'
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("MILLSTREAM_INFLUX_URL", "http://127.0.0.1:8086")
    monkeypatch.setenv("MILLSTREAM_INFLUX_TOKEN", "default-token")
    monkeypatch.setenv("MILLSTREAM_INFLUX_ORG", "millstream")
    monkeypatch.delenv("MILLSTREAM_INFLUX_PLANTS", raising=False)
    return monkeypatch


def test_without_a_map_everything_is_on_the_default(env: pytest.MonkeyPatch) -> None:
    servers = load_settings(CommonSettings).influx_servers()
    default = InfluxServer("http://127.0.0.1:8086", "millstream", "default-token")
    assert servers.servers == (default,)
    assert servers.for_plant("hall-a") == servers.for_plant("") == default


def test_each_plant_gets_its_server_with_the_defaults_filled_in(env: pytest.MonkeyPatch) -> None:
    env.setenv("MILLSTREAM_INFLUX_PLANTS", MAP)
    env.setenv("TOKEN_HALL_B", "b-token")
    servers = load_settings(CommonSettings).influx_servers()
    a = InfluxServer("http://192.0.2.10:8086", "millstream", "default-token")
    b = InfluxServer("https://192.0.2.11:8086", "b-org", "b-token")
    assert servers.for_plant("hall-a") == servers.for_plant("hall-c") == a
    assert servers.for_plant("hall b") == b
    assert servers.for_plant("hall-z") == servers.for_plant("") == servers.default
    # Plants sharing a server share one client; the default comes first.
    assert servers.servers == (servers.default, a, b)
    assert "b-token" not in repr(servers)


def test_an_empty_value_is_no_map(env: pytest.MonkeyPatch) -> None:
    env.setenv("MILLSTREAM_INFLUX_PLANTS", "")
    assert load_settings(CommonSettings).influx_plants == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("hall-a=http://192.0.2.10:8086", "'hall-a=http://192.0.2.10:8086' is not JSON"),
        ('["http://192.0.2.10:8086"]', "is not a JSON object of plant to InfluxDB URL"),
        ('{"hall-a": "192.0.2.10:8086"}', "hall-a: url '192.0.2.10:8086' is not an http"),
        ('{"hall-a": "ftp://192.0.2.10"}', "hall-a: url 'ftp://192.0.2.10' is not an http"),
        ('{"": "http://192.0.2.10:8086"}', "'' is not a plant name"),
        ('{"hall-a": {"uri": "http://192.0.2.10"}}', "hall-a: unknown key 'uri'"),
        ('{"hall-a": 8086}', "hall-a: 8086 is neither a URL nor an object with url"),
        (
            '{"hall-a": {"url": "http://192.0.2.10", "token_env": "UNSET_TOKEN_VAR"}}',
            "hall-a: token_env names UNSET_TOKEN_VAR, which is not set",
        ),
        (
            '{"hall-a": {"url": "http://192.0.2.10", "token_env": "not a name"}}',
            "hall-a: token_env 'not a name' is not a variable name",
        ),
    ],
)
def test_a_bad_map_is_refused_naming_the_variable_and_value(
    env: pytest.MonkeyPatch, value: str, message: str
) -> None:
    env.setenv("MILLSTREAM_INFLUX_PLANTS", value)
    with pytest.raises(ConfigError, match=r"^MILLSTREAM_INFLUX_PLANTS: ") as info:
        load_settings(CommonSettings)
    assert message in str(info.value)


def test_the_api_and_the_worker_read_the_same_variable(env: pytest.MonkeyPatch) -> None:
    from api.settings import ApiSettings
    from pipeline.settings import PipelineSettings

    env.setenv("MILLSTREAM_INFLUX_PLANTS", '{"hall-a": "http://192.0.2.10:8086"}')
    for cls in (ApiSettings, PipelineSettings):
        servers = load_settings(cls).influx_servers()
        assert servers.for_plant("hall-a").url == "http://192.0.2.10:8086", cls
    env.setenv("MILLSTREAM_INFLUX_PLANTS", '{"hall-a": "nowhere"}')
    with pytest.raises(ConfigError, match=r"MILLSTREAM_INFLUX_PLANTS: .*nowhere"):
        load_settings(ApiSettings)


def test_a_parsed_map_is_taken_as_it_is() -> None:
    plants = parse_plant_map({"hall-a": "http://192.0.2.10:8086"})
    again = parse_plant_map(plants)
    assert again == plants
    default = InfluxServer("http://127.0.0.1:8086", "o", "t")
    servers = PlantServers.of(default, again, environ={})
    assert servers.for_plant("hall-a") == InfluxServer("http://192.0.2.10:8086", "o", "t")


def test_the_examples_of_the_scaling_guide_hold(env: pytest.MonkeyPatch) -> None:
    """docs/scaling.md's map is accepted as shown, and its bad value refused as shown."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "scaling.md").read_text()
    shown = re.search(r"^MILLSTREAM_INFLUX_PLANTS='(.*?)'$", text, re.M | re.S)
    error = re.search(r"^  (MILLSTREAM_INFLUX_PLANTS: Value error, .*)$", text, re.M)
    assert shown is not None and error is not None
    env.setenv("MILLSTREAM_INFLUX_PLANTS", shown.group(1))
    env.setenv("INFLUX_TOKEN_HALL_B", "hall-b-token")
    servers = load_settings(CommonSettings).influx_servers()
    assert servers.for_plant("hall-b") == InfluxServer(
        "https://192.0.2.11:8086", "hall-b", "hall-b-token"
    )
    env.setenv("MILLSTREAM_INFLUX_PLANTS", '{"hall-b": "192.0.2.11:8086"}')
    with pytest.raises(ConfigError) as info:
        load_settings(CommonSettings)
    assert str(info.value) == error.group(1)
