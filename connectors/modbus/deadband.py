"""Report by exception: leave out values that moved less than their tag's deadband.

A tag with a ``deadband`` is published when it first has a value, when it moved by at
least the deadband since it was last published, when its quality changed, and at least
every ``heartbeat_s`` (when set) so a consumer can tell "unchanged" from "gone". Tags
without a deadband are always published. A ``string`` tag with a deadband (any positive
value: a text has no distance) is published when its text or quality changed, and at its
heartbeat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from connectors.config.tags import Register
from contracts.readings import Quality, Reading


class ReportByException:
    """Filters readings tag by tag; pure apart from what it remembers of the last report."""

    __slots__ = ("_bands", "_last", "_last_text", "_text_bands")

    def __init__(self, registers: Sequence[Register]) -> None:
        self._bands: dict[str, tuple[float, float | None]] = {
            r.name: (r.deadband, r.heartbeat_s)
            for r in registers
            if r.deadband is not None and r.type != "string"
        }
        self._last: dict[str, tuple[float, Quality, int]] = {}
        # String tags with a deadband: reported when the text or quality changed, and at
        # the heartbeat (the deadband's size does not matter for a text).
        self._text_bands: dict[str, float | None] = {
            r.name: r.heartbeat_s
            for r in registers
            if r.deadband is not None and r.type == "string"
        }
        self._last_text: dict[str, tuple[str, Quality, int]] = {}

    def filter(self, reading: Reading) -> Reading | None:
        """The reading without the tags that need not be reported; ``None`` if empty."""
        if not self._bands and not self._text_bands:
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
                and not _heartbeat_due(last[2], reading.ts_ms, heartbeat_s)
            ):
                drop.append(name)
                continue
            self._last[name] = (value, quality, reading.ts_ms)
        if self._text_bands and reading.texts:
            self._filter_texts(reading, drop)
        if not drop:
            return reading
        values = {k: v for k, v in reading.values.items() if k not in drop}
        texts = {k: v for k, v in reading.texts.items() if k not in drop}
        if not values and not texts:
            return None
        quality_map = {k: q for k, q in reading.quality.items() if k in values or k in texts}
        return dataclasses.replace(reading, values=values, quality=quality_map, texts=texts)

    def _filter_texts(self, reading: Reading, drop: list[str]) -> None:
        for name, heartbeat_s in self._text_bands.items():
            text = reading.texts.get(name)
            if text is None:
                continue
            seen = (text, reading.quality_of(name))
            last = self._last_text.get(name)
            if (
                last is None
                or last[:2] != seen
                or _heartbeat_due(last[2], reading.ts_ms, heartbeat_s)
            ):
                self._last_text[name] = (*seen, reading.ts_ms)
            else:
                drop.append(name)


def _heartbeat_due(last_ms: int, now_ms: int, heartbeat_s: float | None) -> bool:
    """Whether a tag last reported at ``last_ms`` must be reported again at ``now_ms``."""
    return heartbeat_s is not None and now_ms - last_ms >= heartbeat_s * 1000
