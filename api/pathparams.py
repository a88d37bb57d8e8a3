"""Path parameters checked with the one pattern of :mod:`contracts.patterns` (``fullmatch``:
``"42\\n"`` is refused with ``422``)."""

from __future__ import annotations

from typing import Annotated

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

# The patterns are shown in OpenAPI; validation is the check named after them (fullmatch).
MachineIdPath = Annotated[
    str,
    Path(
        description=f"Machine id ({MACHINE_ID_RULE})",
        max_length=64,
        json_schema_extra={"pattern": MACHINE_ID_PATTERN},
    ),
    AfterValidator(check_machine_id),
]
SensorPath = Annotated[
    str,
    Path(
        description=f"Sensor name ({SENSOR_NAME_RULE})",
        max_length=64,
        json_schema_extra={"pattern": SENSOR_NAME_PATTERN},
    ),
    AfterValidator(check_sensor_name),
]
ALARM_ID_PATTERN = (
    f"^{MACHINE_ID_RE.pattern}:{SENSOR_NAME_RE.pattern}:"
    f"(?:{'|'.join(sorted(RULE_NAMES))})$"
)
AlarmIdPath = Annotated[
    str,
    Path(
        description="Alarm id: <machine_id>:<sensor>:<rule>, e.g. 42:temperature_c:high",
        max_length=200,
        json_schema_extra={"pattern": ALARM_ID_PATTERN},
    ),
]


def _machine_or_all(text: str) -> str:
    return text if text == ALL_MACHINES else check_machine_id(text)


ThresholdsMachinePath = Annotated[
    str,
    Path(description=f"Machine id, or '*' for the default of every machine ({MACHINE_ID_RULE})"),
    AfterValidator(_machine_or_all),
]
