"""One tag of a device: where its value sits (table, address, type, byte order) and how
it becomes an engineering value (scale, offset), with its report-by-exception and write
limits. Validated field by field and across fields when a devices file is loaded."""

from __future__ import annotations

import math
from typing import Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.config.register_types import (
    BIT_TABLES,
    BYTE_ORDERS,
    DATA_TYPES,
    ORDER_ALIASES,
    TABLES,
    ByteOrder,
    DataType,
    Table,
    register_count,
)
from contracts.errors import ContractError
from contracts.patterns import check_sensor_name

MAX_ADDRESS = 65535
# Below this a poll loop mostly measures itself and floods the topic; a device that must
# be read faster needs a dedicated gateway, not a faster poll.
MIN_POLL_INTERVAL_S = 0.01
MAX_REGISTERS_PER_REQUEST = 125
MAX_BITS_PER_REQUEST = 2000


def _one_of(value: object, choices: tuple[str, ...]) -> object:
    if value not in choices:
        raise ValueError(f"must be one of {', '.join(sorted(choices))}")
    return value


class Register(BaseModel):
    """One tag: a value held in one or more consecutive registers (or one bit) of a device."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str
    unit: str = ""
    address: int = Field(ge=0, le=MAX_ADDRESS)
    table: Table = "holding"
    type: DataType = "uint16"
    byte_order: ByteOrder = Field(
        default="ABCD", validation_alias=AliasChoices("byte_order", "word_order")
    )
    bit: int = Field(default=0, ge=0, le=15)
    length: int = Field(default=0, ge=0, le=MAX_REGISTERS_PER_REQUEST)
    scale: float = 1.0
    offset: float = 0.0
    poll_interval_s: float | None = Field(default=None, ge=MIN_POLL_INTERVAL_S, le=3600)
    deadband: float | None = Field(default=None, gt=0)
    heartbeat_s: float | None = Field(default=None, gt=0, le=86_400)
    writable: bool = False
    min: float | None = None
    max: float | None = None

    @field_validator("name")
    @classmethod
    def _sensor_name(cls, value: str) -> str:
        try:
            return check_sensor_name(value)
        except ContractError as exc:
            raise ValueError(f"{exc} (e.g. temperature_c)") from exc

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: object) -> object:
        return _one_of(value, DATA_TYPES)

    @field_validator("table", mode="before")
    @classmethod
    def _known_table(cls, value: object) -> object:
        return _one_of(value, TABLES)

    @field_validator("byte_order", mode="before")
    @classmethod
    def _known_byte_order(cls, value: object) -> object:
        if isinstance(value, str) and value in ORDER_ALIASES:
            return ORDER_ALIASES[value]
        return _one_of(value, BYTE_ORDERS + tuple(ORDER_ALIASES))

    @field_validator("scale")
    @classmethod
    def _usable_scale(cls, value: float) -> float:
        if value == 0 or not math.isfinite(value):
            raise ValueError("must be a finite number other than 0")
        return value

    @field_validator("offset")
    @classmethod
    def _finite_offset(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.table in BIT_TABLES and self.type != "bit":
            raise ValueError(
                f"type: a {self.table} holds one bit, so type must be bit (got {self.type!r})"
            )
        if self.type == "string":
            if self.length < 1:
                raise ValueError("length: required for type string (registers, 2 characters each)")
            if self.scale != 1.0 or self.offset != 0.0:
                raise ValueError(
                    f"scale: not for type string (got scale {self.scale}, offset {self.offset})"
                )
            if self.writable:
                raise ValueError("writable: type string cannot be written (got true)")
        elif self.length:
            raise ValueError(f"length: only for type string (got {self.length})")
        if self.bit and self.type != "bit":
            raise ValueError(f"bit: only for type bit (got {self.bit} with type {self.type!r})")
        if self.heartbeat_s is not None and self.deadband is None:
            raise ValueError(f"heartbeat_s: only with a deadband (got {self.heartbeat_s})")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min: greater than max (got min {self.min}, max {self.max})")
        return self

    @property
    def count(self) -> int:
        """Number of 16-bit registers (or bits, for coils and discrete inputs) it occupies."""
        return register_count(self.type, length=self.length)

    @property
    def end(self) -> int:
        """First address after the value (exclusive end)."""
        return self.address + self.count
