"""Settings of the local stack (``MILLSTREAM_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from contracts.settings import CommonSettings


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "millstream"


class InfraSettings(CommonSettings):
    """Where servers are cached and run, and on which loopback ports.

    A port of 0 means "pick a free one"; the chosen ports are kept in the run directory's
    state file so a restarted stack reuses them. The shared fields (topic prefix, org,
    buckets, and where an external Kafka and InfluxDB are, for ``bootstrap``) are
    :class:`CommonSettings`'.
    """

    cache_dir: Path = Field(default_factory=_default_cache_dir)
    run_dir: Path = Path(".millstream")
    host: str = "127.0.0.1"
    kafka_port: int = 0
    influx_port: int = 0
    kafka_heap_mb: int = 512
    # MILLSTREAM_KAFKA_BROKERS=3: a KRaft cluster of 3 broker+controller nodes on loopback
    # (replication factor 3, min.insync.replicas 2), each node with kafka_node_heap_mb.
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    kafka_node_heap_mb: int = 384
    # MILLSTREAM_REDIS=1: also run redis-server (for rate limits shared by API replicas).
    redis: bool = False
    redis_port: int = 0
    redis_server: str = "redis-server"
    redis_maxmemory_mb: int = 64
    stream_partitions: int = 6
    # MILLSTREAM_PLANTS=3: plant edges (a single-broker Kafka and a MirrorMaker 2 each) for
    # the first plants of the simulated factory, linked to the central cluster.
    plants: int = Field(default=0, ge=0, le=8)
    edge_heap_mb: int = 256
    mirror_heap_mb: int = 256

    start_timeout_s: float = 120.0

    @property
    def redis_enabled(self) -> bool:
        """MILLSTREAM_REDIS=1, or a Redis port set."""
        return self.redis or self.redis_port != 0
