"""The one machine-id pattern and the one sensor-name pattern every component validates with.

Both are checked with ``fullmatch``: a ``$`` anchor would accept a trailing newline, and
``"42\\n"`` is not a machine id.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import AfterValidator

from contracts.errors import ContractError

MACHINE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
SENSOR_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")

MACHINE_ID_RULE = "letters, digits, '_', '.', ':', '-'; 1-64 chars"
SENSOR_NAME_RULE = "lower_snake_case, starting with a letter, up to 64 characters"


@functools.lru_cache(maxsize=16384)
def is_machine_id(text: str) -> bool:
    return MACHINE_ID_RE.fullmatch(text) is not None


@functools.lru_cache(maxsize=4096)
def is_sensor_name(text: str) -> bool:
    # Cached, as machine ids are: every reading repeats its machine's few sensor names.
    return SENSOR_NAME_RE.fullmatch(text) is not None


def check_machine_id(text: str) -> str:
    """Return ``text`` if it is a valid machine id, else raise :class:`ContractError`."""
    if not is_machine_id(text):
        raise ContractError(f"machine_id: {text!r} is not valid ({MACHINE_ID_RULE})")
    return text


def check_sensor_name(text: str) -> str:
    """Return ``text`` if it is a valid sensor name, else raise :class:`ContractError`."""
    if not is_sensor_name(text):
        raise ContractError(f"{text!r}: sensor names are {SENSOR_NAME_RULE}")
    return text


# For pydantic models: ``machine_id: MachineId``. ContractError is a ValueError, so pydantic
# reports it as a validation error naming the field.
MachineId = Annotated[str, AfterValidator(check_machine_id)]
SensorName = Annotated[str, AfterValidator(check_sensor_name)]
