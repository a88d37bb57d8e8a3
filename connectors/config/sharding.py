"""Several connector processes sharing one devices file: ``--shard i/n``.

One process polls about 3,000 small scans a second on one core (pymodbus' client and
kafka-python's producer take most of it; see ``bench/scenarios/connector_many_devices``).
A plant with more can run ``n`` connectors on the same devices file, each with
``--shard i/n`` (or ``MILLSTREAM_CONNECTOR_SHARD=i/n``), ``i`` from 0 to ``n - 1``. A
device belongs to shard ``crc32(machine_id) % n``: a stable hash (the same in every
process and Python version, unlike ``hash()``), so every device is polled by exactly one
of the ``n`` processes, and a device keeps its shard while ``n`` stays the same.

Each shard is a connector of its own: its id gets ``-shard{i}of{n}`` appended, so it has
its own spool (and per-machine ``seq``), command consumer group and Kafka client id.
Changing ``n`` moves devices between shards; the ``seq`` of a moved machine starts again
from what the new shard's spool knows (from 1 for a machine it never polled), as when a
device is moved to another devices file.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from connectors.config.devices import Device
from contracts.errors import ConfigError

_SHARD = re.compile(r"(\d{1,4})/(\d{1,4})")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (0 <= index < count)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def suffix(self) -> str:
        """What is appended to the connector id: ``-shard0of4``."""
        return f"-shard{self.index}of{self.count}"

    def owns(self, machine_id: str) -> bool:
        return shard_of(machine_id, self.count) == self.index


def parse_shard(text: str, *, field: str = "--shard") -> Shard:
    """``"i/n"`` as a :class:`Shard`; :class:`ConfigError` naming ``field`` if it is not
    one (``n`` from 1 to 1024, ``i`` from 0 to ``n - 1``)."""
    match = _SHARD.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"{field}: must be i/n, e.g. 0/4 (got {text!r})")
    index, count = int(match[1]), int(match[2])
    if not 1 <= count <= 1024:
        raise ConfigError(f"{field}: the shard count must be 1 to 1024 (got {count})")
    if index >= count:
        raise ConfigError(f"{field}: the shard index must be 0 to {count - 1} (got {index})")
    return Shard(index, count)


def shard_of(machine_id: str, count: int) -> int:
    """The shard (0 to ``count - 1``) that polls ``machine_id``."""
    return zlib.crc32(machine_id.encode()) % count


def shard_devices(devices: Sequence[Device], shard: Shard) -> tuple[Device, ...]:
    """The devices ``shard`` polls, in file order."""
    return tuple(d for d in devices if shard.owns(d.machine_id))
