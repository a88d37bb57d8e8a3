"""The one machine-id pattern and the one sensor-name pattern every component validates with.

Both are checked with ``fullmatch``: a ``$`` anchor would accept a trailing newline, and
``"42\\n"`` is not a machine id.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import AfterValidator, Field

from contracts.errors import ContractError
from contracts.influx_schema import (
    AGGREGATES_TAGS,
    ALARMS_TAGS,
    FLUX_COLUMNS,
    QUALITY_SUFFIX,
    READINGS_TAGS,
)

MACHINE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
SENSOR_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")

# The same, anchored, for JSON Schema (OpenAPI), whose patterns are searched, not matched.
MACHINE_ID_PATTERN = f"^{MACHINE_ID_RE.pattern}$"
SENSOR_NAME_PATTERN = f"^{SENSOR_NAME_RE.pattern}$"

MACHINE_ID_RULE = "letters, digits, '_', '.', ':', '-'; 1-64 chars"
SENSOR_NAME_RULE = "lower_snake_case, starting with a letter, up to 64 characters"

# Names a sensor may not have, because something else already means them: the tag keys of
# every measurement, the columns Flux adds to a result (``_``-prefixed ones cannot match the
# pattern anyway), and the keys of the reading itself (wire and flat shapes, history rows).
RESERVED_SENSOR_NAMES: frozenset[str] = frozenset(
    (*READINGS_TAGS, *AGGREGATES_TAGS, *ALARMS_TAGS, *FLUX_COLUMNS)
) | frozenset(("ts", "timestamp", "seq", "source", "quality", "values", "texts", "sensors"))
# Suffixes of the field names the schema derives from a sensor's name: a sensor named
# ``temperature_c_quality`` would take the string field of ``temperature_c``'s quality.
RESERVED_SENSOR_SUFFIXES: tuple[str, ...] = (QUALITY_SUFFIX,)


@functools.lru_cache(maxsize=16384)
def is_machine_id(text: str) -> bool:
    return MACHINE_ID_RE.fullmatch(text) is not None


@functools.lru_cache(maxsize=4096)
def is_sensor_name(text: str) -> bool:
    # Cached, as machine ids are: every reading repeats its machine's few sensor names.
    return SENSOR_NAME_RE.fullmatch(text) is not None and _reserved_because(text) is None


def _reserved_because(text: str) -> str | None:
    if text in RESERVED_SENSOR_NAMES:
        return "is reserved (a tag, a column InfluxDB adds, or a key of the reading)"
    for suffix in RESERVED_SENSOR_SUFFIXES:
        if text.endswith(suffix):
            return f"ends in {suffix!r}, which the schema keeps for the quality of another sensor"
    return None


def check_machine_id(text: str) -> str:
    """Return ``text`` if it is a valid machine id, else raise :class:`ContractError`."""
    if not is_machine_id(text):
        raise ContractError(f"machine_id: {text!r} is not valid ({MACHINE_ID_RULE})")
    return text


def check_sensor_name(text: str) -> str:
    """Return ``text`` if it is a valid sensor name, else raise :class:`ContractError`."""
    if not is_sensor_name(text):
        why = _reserved_because(text) if SENSOR_NAME_RE.fullmatch(text) else None
        if why is not None:
            raise ContractError(f"{text!r}: sensor name {why}; choose another name")
        raise ContractError(f"{text!r}: sensor names are {SENSOR_NAME_RULE}")
    return text


# For pydantic models: ``machine_id: MachineId``. ContractError is a ValueError, so pydantic
# reports it as a validation error naming the field.
# The pattern is shown in the JSON schema only; validation is the check, which also names
# the reserved sensor names.
MachineId = Annotated[
    str,
    AfterValidator(check_machine_id),
    Field(json_schema_extra={"pattern": MACHINE_ID_PATTERN}),
]
SensorName = Annotated[
    str,
    AfterValidator(check_sensor_name),
    Field(
        json_schema_extra={
            "pattern": SENSOR_NAME_PATTERN,
            "description": f"A sensor name: {SENSOR_NAME_RULE}; not ending in "
            f"{', '.join(RESERVED_SENSOR_SUFFIXES)}, and none of "
            f"{', '.join(sorted(RESERVED_SENSOR_NAMES))}",
        }
    ),
]
