"""Which part of a reading a subscription wants: sensor names match fields by prefix.

``"temperature"`` matches ``temperature_c``; ``"power"`` matches ``power_kw`` and
``power_factor``; an empty subscription matches every field.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def field_matches(field: str, prefixes: tuple[str, ...]) -> bool:
    return not prefixes or field.startswith(prefixes)


def filter_frame(
    frame: dict[str, Any], sensor_fields: Collection[str], prefixes: tuple[str, ...]
) -> dict[str, Any] | None:
    """The flat reading ``frame`` cut down to the subscribed sensors.

    ``sensor_fields`` are the keys of ``frame`` that carry sensor values; all other keys
    (``type``, ``machine_id``, ``ts``, ``seq``) are kept, and ``quality`` keeps only the
    subscribed sensors. ``None`` when no sensor of the frame is subscribed.
    """
    if not prefixes:
        return frame
    out: dict[str, Any] = {}
    matched = 0
    for key, value in frame.items():
        if key in sensor_fields:
            if key.startswith(prefixes):
                out[key] = value
                matched += 1
        elif key == "quality" and isinstance(value, dict):
            kept = {name: q for name, q in value.items() if name.startswith(prefixes)}
            if kept:
                out[key] = kept
        else:
            out[key] = value
    return out if matched else None
