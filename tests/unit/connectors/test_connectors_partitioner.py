"""The key-hash caching partitioner picks exactly kafka-python's default partition."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.partitioner import DefaultPartitioner

from connectors.forwarding import partitioner as module
from connectors.forwarding.partitioner import KeyHashCachingPartitioner


class _Cluster:
    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self._partitions = partitions

    def topics(self) -> set[str]:
        return set(self._partitions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._partitions.get(topic)

    def available_partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._partitions.get(topic)


def _pick(p: Any, cluster: _Cluster, topic: str, key: bytes | None) -> int:
    return int(p.partition(topic, None, key, None, b"v", cluster))


@pytest.mark.parametrize("count", [1, 3, 6, 12])
def test_same_partition_as_the_default_for_every_key(count: int) -> None:
    cluster = _Cluster({"readings": set(range(count)), "odd": {1, 5, 9}})
    caching, default = KeyHashCachingPartitioner(), DefaultPartitioner()
    keys = [f"b1234567-{i:04d}".encode() for i in range(300)] + [b"42", b"", "ä".encode()]
    for _ in range(2):  # first computed, then remembered
        for key in keys:
            for topic in ("readings", "odd"):
                assert _pick(caching, cluster, topic, key) == _pick(default, cluster, topic, key)


def test_partition_count_change_is_followed() -> None:
    caching, default = KeyHashCachingPartitioner(), DefaultPartitioner()
    cluster = _Cluster({"readings": set(range(3))})
    before = _pick(caching, cluster, "readings", b"machine-7")
    cluster = _Cluster({"readings": set(range(12))})
    assert _pick(caching, cluster, "readings", b"machine-7") == _pick(
        default, cluster, "readings", b"machine-7"
    )
    assert before in range(3)


def test_unknown_topic_is_refused_and_no_key_is_random_among_partitions() -> None:
    cluster = _Cluster({"readings": {0, 1}})
    caching = KeyHashCachingPartitioner()
    with pytest.raises(ValueError, match="nope"):
        _pick(caching, cluster, "nope", b"k")
    assert {_pick(caching, cluster, "readings", None) for _ in range(50)} <= {0, 1}


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "MAX_KEYS", 10)
    cluster = _Cluster({"readings": set(range(6))})
    caching, default = KeyHashCachingPartitioner(), DefaultPartitioner()
    for i in range(25):
        key = f"m{i}".encode()
        assert _pick(caching, cluster, "readings", key) == _pick(default, cluster, "readings", key)
    assert len(caching._hashes) <= 10
