"""Path parameters checked with the one pattern of :mod:`contracts.patterns` (``fullmatch``:
``"42\\n"`` is refused with ``422``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator

from contracts.patterns import (
    MACHINE_ID_RULE,
    SENSOR_NAME_RULE,
    check_machine_id,
    check_sensor_name,
)
from contracts.thresholds import ALL_MACHINES

MachineIdPath = Annotated[
    str,
    Path(description=f"Machine id ({MACHINE_ID_RULE})", max_length=64),
    AfterValidator(check_machine_id),
]
SensorPath = Annotated[
    str,
    Path(description=f"Sensor name ({SENSOR_NAME_RULE})", max_length=64),
    AfterValidator(check_sensor_name),
]


def _machine_or_all(text: str) -> str:
    return text if text == ALL_MACHINES else check_machine_id(text)


ThresholdsMachinePath = Annotated[
    str,
    Path(description=f"Machine id, or '*' for the default of every machine ({MACHINE_ID_RULE})"),
    AfterValidator(_machine_or_all),
]
