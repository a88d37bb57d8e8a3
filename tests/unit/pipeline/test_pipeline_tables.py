from kafka.partitioner import murmur2

from pipeline.tables import key_partition


def test_key_partition_is_kafkas_default_key_partitioner():
    """kafka-python (the connectors' producer) places a keyed record at
    ``(murmur2(key) & 0x7fffffff) % partitions``, as Java's default partitioner does."""
    for i in range(200):
        key = f"machine-{i}".encode()
        assert key_partition(key, 6) == (murmur2(key) & 0x7FFFFFFF) % 6
    assert {key_partition(f"m{i}".encode(), 6) for i in range(100)} == set(range(6))
