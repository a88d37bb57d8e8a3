"""Where Kafka is and how to talk to it: bootstrap servers, TLS/SASL, producer settings.

Everything here is pure: it turns settings into the keyword arguments kafka-python and
aiokafka share (``bootstrap_servers``, ``client_id``, ``security_protocol``,
``ssl_context``, ``sasl_*``, ``acks``, ``enable_idempotence``, ``compression_type``,
``linger_ms``). The clients themselves are built in :mod:`kafka_edge.sync_clients` and
:mod:`kafka_edge.aio_clients`.

Managed clusters: ``MILLSTREAM_KAFKA_SECURITY_PROTOCOL`` (``PLAINTEXT``, ``SSL``,
``SASL_PLAINTEXT``, ``SASL_SSL``), ``MILLSTREAM_KAFKA_SASL_MECHANISM`` (``PLAIN``,
``SCRAM-SHA-256``, ``SCRAM-SHA-512``), ``MILLSTREAM_KAFKA_SASL_USERNAME``/``_PASSWORD`` and
``MILLSTREAM_KAFKA_SSL_CAFILE``/``_CERTFILE``/``_KEYFILE``. Only the local plain listener
is exercised by the tests.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

from contracts.errors import ConfigError
from contracts.settings import CommonSettings

BOOTSTRAP_VARIABLE = "MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS"
# host or host:port; a host is a name, an IPv4 address or a bracketed IPv6 address.
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?")

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SECURITY_PROTOCOLS: tuple[SecurityProtocol, ...] = (
    "PLAINTEXT",
    "SSL",
    "SASL_PLAINTEXT",
    "SASL_SSL",
)
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def parse_bootstrap(text: str) -> tuple[str, ...]:
    """``"a:9092, b:9092"`` as ``("a:9092", "b:9092")``; a ``kafka://`` prefix is dropped.

    Raises :class:`ValueError` naming the part that is not ``host[:port]``, or saying that
    none is given.
    """
    hosts: list[str] = []
    for part in text.split(","):
        host = part.strip().removeprefix("kafka://")
        if not host:
            continue
        if not _HOST_PORT.fullmatch(host):
            raise ValueError(f"{host!r} is not host:port (e.g. 127.0.0.1:9092)")
        hosts.append(host)
    if not hosts:
        raise ValueError("at least one host:port is required (e.g. 127.0.0.1:9092)")
    return tuple(hosts)


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """TLS and SASL for a managed cluster; the default is the plain listener."""

    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of a TLS protocol (``None`` for a plain one)."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, keyfile=self.ssl_keyfile)
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """The security keyword arguments of kafka-python's and aiokafka's clients."""
        if self.protocol == "PLAINTEXT":
            return {}
        out: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            out["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            out["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            out["sasl_plain_username"] = self.sasl_username
            out["sasl_plain_password"] = self.sasl_password
        return out


def security_of(settings: CommonSettings) -> KafkaSecurity:
    """The :class:`KafkaSecurity` the ``MILLSTREAM_KAFKA_*`` settings describe."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigError(
            f"MILLSTREAM_KAFKA_SECURITY_PROTOCOL: {settings.kafka_security_protocol!r} is not "
            f"one of {', '.join(SECURITY_PROTOCOLS)}"
        )
    mechanism = settings.kafka_sasl_mechanism.upper() or None
    if mechanism is not None and mechanism not in SASL_MECHANISMS:
        raise ConfigError(
            f"MILLSTREAM_KAFKA_SASL_MECHANISM: {settings.kafka_sasl_mechanism!r} is not one "
            f"of {', '.join(SASL_MECHANISMS)}"
        )
    return KafkaSecurity(
        protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=settings.kafka_sasl_username or None,
        sasl_password=settings.kafka_sasl_password.get_secret_value() or None,
        ssl_cafile=settings.kafka_ssl_cafile or None,
        ssl_certfile=settings.kafka_ssl_certfile or None,
        ssl_keyfile=settings.kafka_ssl_keyfile or None,
    )


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Where the cluster is and how to reach it: what every client of a service shares."""

    bootstrap: tuple[str, ...]
    security: KafkaSecurity = KafkaSecurity()

    @classmethod
    def plain(cls, bootstrap: str) -> KafkaConnection:
        """The plain listener at ``bootstrap`` (``host:port[,host:port...]``)."""
        try:
            return cls(parse_bootstrap(bootstrap))
        except ValueError as exc:
            raise ConfigError(f"{BOOTSTRAP_VARIABLE}: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> KafkaConnection:
        """The connection the ``MILLSTREAM_KAFKA_*`` settings describe."""
        try:
            bootstrap = parse_bootstrap(settings.kafka_bootstrap_servers)
        except ValueError as exc:
            raise ConfigError(f"{BOOTSTRAP_VARIABLE}: {exc}") from exc
        return cls(bootstrap, security_of(settings))

    @property
    def servers(self) -> str:
        """The bootstrap servers as one comma-separated string, for log lines."""
        return ",".join(self.bootstrap)

    def client_kwargs(self, client_id: str | None = None) -> dict[str, Any]:
        """``bootstrap_servers``, ``client_id`` (when given) and the security arguments."""
        out: dict[str, Any] = {"bootstrap_servers": list(self.bootstrap)}
        if client_id is not None:
            out["client_id"] = client_id
        out.update(self.security.client_kwargs())
        return out


# The consumer options of an observer (``kafka_observer``, ``aio_observer``): no group, so
# no share of the partitions and no offsets committed, reading from the earliest offset.
OBSERVER_OPTIONS: dict[str, Any] = {
    "group_id": None,
    "auto_offset_reset": "earliest",
    "enable_auto_commit": False,
}

Acks = Literal["all", 0, 1]


@dataclass(frozen=True, slots=True)
class ProducerSettings:
    """How a producer trades latency for durability.

    The default is the durable one every service uses unless told otherwise: acks from
    all in-sync replicas, idempotent (no duplicates from the producer's own retries), lz4.
    Idempotence needs ``acks="all"``; with fewer acks it is off.
    """

    acks: Acks = "all"
    compression: Literal["lz4", "gzip", "none"] = "lz4"
    linger_ms: int = 0

    @property
    def idempotent(self) -> bool:
        return self.acks == "all"

    def client_kwargs(self) -> dict[str, Any]:
        """``acks``, ``enable_idempotence``, ``compression_type``, ``linger_ms``."""
        return {
            "acks": self.acks,
            "enable_idempotence": self.idempotent,
            "compression_type": None if self.compression == "none" else self.compression,
            "linger_ms": self.linger_ms,
        }


def parse_acks(text: str) -> Acks:
    """``"all"``, ``"1"`` or ``"0"`` (as the settings spell it) as a client wants it."""
    if text == "all":
        return "all"
    if text in ("0", "1"):
        return 0 if text == "0" else 1
    raise ValueError(f"acks: {text!r} is not all, 1 or 0")
