"""Tables written outside stream iteration, each changelog record in its key's partition.

With ``use_partitioner=True`` Faust leaves the changelog partition to the producer's
partitioner, which needs the producer's metadata of the changelog topic *at that moment*
(``key_partition`` is synchronous): the first write after start-up can find none and fail
with ``TypeError: 'NoneType' object is not iterable``. The partition is computed here
instead, with Kafka's default partitioner (murmur2 of the key bytes, as the connectors'
producer and aiokafka's use), over the table's partitions, which equal the readings
topic's: each machine's state lands in the partition of its readings, with no metadata.
"""

from __future__ import annotations

from typing import Any

import faust
from aiokafka.partitioner import murmur2


def key_partition(key: bytes, partitions: int) -> int:
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


class KeyPartitionedTable(faust.Table):  # type: ignore[misc]
    def partition_for_key(self, key: Any) -> int | None:
        if self.use_partitioner and self.partitions:
            raw = key if isinstance(key, bytes) else str(key).encode()
            return key_partition(raw, self.partitions)
        result: int | None = super().partition_for_key(key)
        return result
