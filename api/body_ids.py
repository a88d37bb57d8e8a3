"""The machine id as request bodies carry it: a number or a text id, checked like every id."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from contracts.readings import normalize_machine_id


def _machine_id(value: object) -> object:
    """A body's machine id, checked like every id (``true`` or ``"x y"`` is ``422``)."""
    return value if value is None else normalize_machine_id(value)


BodyMachineId = Annotated[
    int | str, BeforeValidator(_machine_id), Field(description="Numeric or text id, e.g. 42")
]
