"""The broker settings of a Faust app (Faust builds its aiokafka clients from them)."""

from __future__ import annotations

from typing import Any

import faust

from kafka_edge.connection import KafkaConnection, ProducerSettings


def faust_broker_settings(
    connection: KafkaConnection,
    producer: ProducerSettings,
    *,
    client_id: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``faust.App``: ``broker``, ``broker_credentials``, the
    client id and the producer's acks, compression and linger.

    Faust turns on idempotence only with ``processing_guarantee="exactly_once"``, so
    ``producer.idempotent`` is not passed on.
    """
    out: dict[str, Any] = {
        "broker": [f"kafka://{host}" for host in connection.bootstrap],
        "producer_acks": -1 if producer.acks == "all" else producer.acks,
        "producer_compression_type": (
            None if producer.compression == "none" else producer.compression
        ),
        "producer_linger": producer.linger_ms / 1000,
    }
    if client_id is not None:
        out["broker_client_id"] = client_id
    credentials = _credentials(connection)
    if credentials is not None:
        out["broker_credentials"] = credentials
    return out


def _credentials(connection: KafkaConnection) -> Any:
    security = connection.security
    if security.uses_sasl:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            ssl_context=security.ssl_context(),
            mechanism=security.sasl_mechanism or "PLAIN",
        )
    if security.uses_tls:
        return faust.SSLCredentials(security.ssl_context())
    return None
