"""One murmur2 for every service: the Java client's values, kafka-python's and aiokafka's
partitions, and the connector's key-hash caching partitioner."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from kafka.partitioner import DefaultPartitioner
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from kafka_edge import sync_clients as module
from kafka_edge.partitioner import murmur2, partition_for
from kafka_edge.sync_clients import KeyHashCachingPartitioner

# org.apache.kafka.common.utils.UtilsTest.testMurmur2
JAVA_CASES = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), JAVA_CASES.items())
def test_murmur2_matches_the_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_partition_for_matches_both_client_libraries() -> None:
    keys = [f"m-{i}".encode() for i in range(500)] + [b"", b"x", "ä€".encode(), bytes(range(256))]
    for key in keys:
        for count in (1, 3, 7, 12):
            assert partition_for(key, count) == (kafka_python_murmur2(key) & 0x7FFFFFFF) % count
            assert partition_for(key, count) == (aiokafka_murmur2(key) & 0x7FFFFFFF) % count


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
    monkeypatch.setattr(module, "MAX_REMEMBERED_KEYS", 10)
    cluster = _Cluster({"readings": set(range(6))})
    caching, default = KeyHashCachingPartitioner(), DefaultPartitioner()
    for i in range(25):
        key = f"m{i}".encode()
        assert _pick(caching, cluster, "readings", key) == _pick(default, cluster, "readings", key)
    assert len(caching._hashes) <= 10
