"""Parsing the body of ``POST /api/readings``: the seed's flat reading, or an array of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from api.errors import BadRequestError, InvalidInputError
from api.flat import FlatLimits, machine_id_json, reading_from_flat
from contracts.errors import ContractError
from contracts.readings import Reading
from contracts.timefmt import format_ts


def parse_readings_body(
    body: bytes,
    *,
    source: str,
    received_ms: int,
    max_batch: int,
    limits: FlatLimits | None = None,
) -> list[Reading]:
    """One reading (a JSON object) or a batch (a JSON array of objects).

    A body that is not JSON is a :class:`BadRequestError`; a reading that breaks the
    contract is an :class:`InvalidInputError` naming the field, prefixed with ``[i].``
    (its index) for a batch. A batch is all or nothing, and each reading of one machine in
    it needs a time of its own (see :func:`check_distinct_times`).
    """
    if not body.strip():
        raise BadRequestError("body: empty; send one reading object or an array of them")
    try:
        obj: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"body: not valid JSON ({exc})") from exc
    if isinstance(obj, dict):
        try:
            return [reading_from_flat(obj, source=source, received_ms=received_ms, limits=limits)]
        except ContractError as exc:
            raise InvalidInputError(str(exc)) from exc
    if not isinstance(obj, list):
        raise InvalidInputError("body: must be a reading object or an array of readings")
    if not obj:
        raise InvalidInputError("body: empty batch; send at least one reading")
    if len(obj) > max_batch:
        raise InvalidInputError(
            f"body: batch of {len(obj)} readings exceeds the limit of {max_batch}"
        )
    readings = []
    for i, item in enumerate(obj):
        try:
            readings.append(
                reading_from_flat(item, source=source, received_ms=received_ms, limits=limits)
            )
        except ContractError as exc:
            raise InvalidInputError(_at_index(i, str(exc))) from exc
    check_distinct_times(obj, readings)
    return readings


def check_distinct_times(items: list[Any], readings: list[Reading]) -> None:
    """Refuse a batch in which two readings of one machine share a millisecond.

    InfluxDB keeps one point per machine and time, so the second would overwrite the first
    after its ``201``. Readings without a timestamp take the receive time, so a batch may
    carry at most one such reading per machine.
    """
    first: dict[tuple[str, int], int] = {}
    for i, reading in enumerate(readings):
        earlier = first.setdefault((reading.machine_id, reading.ts_ms), i)
        if earlier == i:
            continue
        item = items[i]
        name = "timestamp" if "timestamp" in item or "ts" not in item else "ts"
        if name in item:
            why = f"the same time as [{earlier}] ({format_ts(reading.ts_ms)})"
        else:
            why = f"no timestamp, so it would take the receive time of [{earlier}]"
        raise InvalidInputError(
            f"[{i}].{name}: machine {reading.machine_id} has {why}; InfluxDB keeps one point "
            "per machine and time, so give each reading of one machine its own timestamp"
        )


def _at_index(index: int, detail: str) -> str:
    if detail.startswith("reading: "):
        return f"[{index}]: {detail.removeprefix('reading: ')}"
    return f"[{index}].{detail}"


def with_plants(readings: list[Reading], plant_of: Callable[[str], str]) -> list[Reading]:
    """Readings posted without a plant take their machine's from the registry, so they are
    stored on the InfluxDB the API reads that machine's history from."""
    out = []
    for reading in readings:
        plant = reading.plant or plant_of(reading.machine_id)
        out.append(reading if plant == reading.plant else replace(reading, plant=plant))
    return out


def accepted_body(readings: list[Reading]) -> dict[str, Any]:
    return {
        "accepted": len(readings),
        "readings": [
            {"machine_id": machine_id_json(r.machine_id), "ts": format_ts(r.ts_ms)}
            for r in readings
        ],
    }
