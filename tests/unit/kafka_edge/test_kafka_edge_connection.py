"""Bootstrap parsing and the client settings every service's clients are built from."""

from __future__ import annotations

import ssl

import pytest
from pydantic import SecretStr

from contracts.errors import ConfigError
from contracts.settings import CommonSettings
from kafka_edge.connection import (
    KafkaConnection,
    KafkaSecurity,
    ProducerSettings,
    parse_acks,
    parse_bootstrap,
)
from kafka_edge.faust_broker import faust_broker_settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9092", ("127.0.0.1:9092",)),
        (" a:1 , b:2 ,", ("a:1", "b:2")),
        ("kafka://broker.example.com:9093", ("broker.example.com:9093",)),
        ("[::1]:9092", ("[::1]:9092",)),
        ("broker", ("broker",)),
    ],
)
def test_bootstrap_is_parsed_one_way(text: str, expected: tuple[str, ...]) -> None:
    assert parse_bootstrap(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "at least one"), (" , ", "at least one"), ("a:1 b:2", "not host:port"), ("a:1\n", None)],
)
def test_bad_bootstrap_is_refused_naming_the_part(text: str, why: str | None) -> None:
    if why is None:  # a trailing newline is whitespace around a part, stripped
        assert parse_bootstrap(text) == ("a:1",)
        return
    with pytest.raises(ValueError, match=why):
        parse_bootstrap(text)


def test_settings_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"):
        KafkaConnection.from_settings(CommonSettings(kafka_bootstrap_servers=" , "))
    with pytest.raises(ConfigError, match="MILLSTREAM_KAFKA_SECURITY_PROTOCOL"):
        KafkaConnection.from_settings(CommonSettings(kafka_security_protocol="TLS"))
    with pytest.raises(ConfigError, match="MILLSTREAM_KAFKA_SASL_MECHANISM"):
        KafkaConnection.from_settings(CommonSettings(kafka_sasl_mechanism="GSSAPI"))


def test_the_plain_listener_adds_no_security_arguments() -> None:
    connection = KafkaConnection.from_settings(CommonSettings(kafka_bootstrap_servers="h:1,g:2"))
    assert connection.client_kwargs("svc") == {
        "bootstrap_servers": ["h:1", "g:2"],
        "client_id": "svc",
    }
    assert connection.servers == "h:1,g:2"
    assert "broker_credentials" not in faust_broker_settings(connection, ProducerSettings())


def test_sasl_ssl_settings_become_client_arguments() -> None:
    settings = CommonSettings(
        kafka_bootstrap_servers="broker.example.com:9093",
        kafka_security_protocol="sasl_ssl",
        kafka_sasl_mechanism="scram-sha-512",
        kafka_sasl_username="millstream",
        kafka_sasl_password=SecretStr("s3cret"),
    )
    connection = KafkaConnection.from_settings(settings)
    kwargs = connection.client_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == (
        "millstream",
        "s3cret",
    )
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert "s3cret" not in repr(connection)
    credentials = faust_broker_settings(connection, ProducerSettings())["broker_credentials"]
    assert credentials.username == "millstream"


def test_ssl_without_sasl_has_no_sasl_arguments() -> None:
    kwargs = KafkaSecurity(protocol="SSL").client_kwargs()
    assert set(kwargs) == {"security_protocol", "ssl_context"}


def test_producer_settings_idempotent_only_with_all_acks() -> None:
    assert ProducerSettings().client_kwargs() == {
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": "lz4",
        "linger_ms": 0,
    }
    one = ProducerSettings(acks=parse_acks("1"), compression="none", linger_ms=20)
    assert one.client_kwargs() == {
        "acks": 1,
        "enable_idempotence": False,
        "compression_type": None,
        "linger_ms": 20,
    }
    with pytest.raises(ValueError, match="acks"):
        parse_acks("2")


def test_faust_gets_urls_acks_and_linger_in_seconds() -> None:
    connection = KafkaConnection.plain("a:1,b:2")
    out = faust_broker_settings(
        connection, ProducerSettings(compression="none", linger_ms=5), client_id="w"
    )
    assert out == {
        "broker": ["kafka://a:1", "kafka://b:2"],
        "producer_acks": -1,
        "producer_compression_type": None,
        "producer_linger": 0.005,
        "broker_client_id": "w",
    }
