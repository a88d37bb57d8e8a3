"""Report by exception: leave out values that moved less than their tag's deadband.

A tag with a ``deadband`` is published when it first has a value, when it moved by at
least the deadband since it was last published, when its quality changed, and at least
every ``heartbeat_s`` (when set) so a consumer can tell "unchanged" from "gone". Tags
without a deadband are always published.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from connectors.config.devices import Register
from contracts.readings import Quality, Reading


class ReportByException:
    """Filters readings tag by tag; pure apart from what it remembers of the last report."""

    __slots__ = ("_bands", "_last")

    def __init__(self, registers: Sequence[Register]) -> None:
        self._bands: dict[str, tuple[float, float | None]] = {
            r.name: (r.deadband, r.heartbeat_s) for r in registers if r.deadband is not None
        }
        self._last: dict[str, tuple[float, Quality, int]] = {}

    def filter(self, reading: Reading) -> Reading | None:
        """The reading without the tags that need not be reported; ``None`` if empty."""
        if not self._bands:
            return reading
        drop: list[str] = []
        for name, (band, heartbeat_s) in self._bands.items():
            if name not in reading.values:
                continue
            value, quality = reading.values[name], reading.quality_of(name)
            last = self._last.get(name)
            if (
                last is not None
                and last[1] == quality
                and abs(value - last[0]) < band
                and (heartbeat_s is None or reading.ts_ms - last[2] < heartbeat_s * 1000)
            ):
                drop.append(name)
                continue
            self._last[name] = (value, quality, reading.ts_ms)
        if not drop:
            return reading
        values = {k: v for k, v in reading.values.items() if k not in drop}
        texts = reading.texts
        if not values and not texts:
            return None
        quality_map = {k: q for k, q in reading.quality.items() if k in values or k in texts}
        return dataclasses.replace(reading, values=values, quality=quality_map)
