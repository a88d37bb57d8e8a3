"""Path parameters checked with the one pattern of :mod:`contracts.patterns` (``fullmatch``:
``"42\\n"`` is refused with ``422``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator

from contracts.alarms import RULE_NAMES
from contracts.patterns import (
    MACHINE_ID_PATTERN,
    MACHINE_ID_RE,
    MACHINE_ID_RULE,
    SENSOR_NAME_PATTERN,
    SENSOR_NAME_RE,
    SENSOR_NAME_RULE,
    check_machine_id,
    check_sensor_name,
)
from contracts.thresholds import ALL_MACHINES


def _shown_pattern(description: str, max_length: int, pattern: str) -> Any:
    """A path parameter whose pattern is shown in OpenAPI only; validation is the check
    named after the pattern (fullmatch)."""
    return Path(
        description=description, max_length=max_length, json_schema_extra={"pattern": pattern}
    )


MachineIdPath = Annotated[
    str,
    _shown_pattern(f"Machine id ({MACHINE_ID_RULE})", 64, MACHINE_ID_PATTERN),
    AfterValidator(check_machine_id),
]
SensorPath = Annotated[
    str,
    _shown_pattern(f"Sensor name ({SENSOR_NAME_RULE})", 64, SENSOR_NAME_PATTERN),
    AfterValidator(check_sensor_name),
]
ALARM_ID_PATTERN = (
    f"^{MACHINE_ID_RE.pattern}:{SENSOR_NAME_RE.pattern}:(?:{'|'.join(sorted(RULE_NAMES))})$"
)
AlarmIdPath = Annotated[
    str,
    _shown_pattern(
        "Alarm id: <machine_id>:<sensor>:<rule>, e.g. 42:temperature_c:high", 200, ALARM_ID_PATTERN
    ),
]


def _machine_or_all(text: str) -> str:
    return text if text == ALL_MACHINES else check_machine_id(text)


ThresholdsMachinePath = Annotated[
    str,
    Path(description=f"Machine id, or '*' for the default of every machine ({MACHINE_ID_RULE})"),
    AfterValidator(_machine_or_all),
]
