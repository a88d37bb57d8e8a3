"""The devices file: which Modbus devices to poll and how to decode their registers.

Everything is validated when the file is loaded; the first problem raises
:class:`contracts.errors.ConfigError` naming the file, the device and the field, e.g.
``devices.yaml: device 42: registers[1].type: must be one of float32, int16, ...``.
``devices.example.yaml`` at the repository root documents every option.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from connectors.decoding import (
    DATA_TYPES,
    TABLES,
    WORD_ORDERS,
    DataType,
    Table,
    WordOrder,
    register_count,
)
from contracts.errors import ConfigError, ContractError
from contracts.machines import MachineInfo, SensorInfo
from contracts.readings import normalize_machine_id

_SENSOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ADDRESS = 65535


def _one_of(value: object, choices: tuple[str, ...]) -> object:
    if value not in choices:
        raise ValueError(f"must be one of {', '.join(sorted(choices))}")
    return value


class Register(BaseModel):
    """One sensor value held in one or more consecutive registers of a device."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str
    unit: str = ""
    address: int = Field(ge=0, le=MAX_ADDRESS)
    table: Table = "holding"
    type: DataType
    word_order: WordOrder = "big"
    scale: float = 1.0
    offset: float = 0.0

    @field_validator("name")
    @classmethod
    def _sensor_name(cls, value: str) -> str:
        if not _SENSOR_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a sensor name (lower_snake_case: a-z, 0-9 and '_', "
                "starting with a letter, up to 64 characters, e.g. temperature_c)"
            )
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: object) -> object:
        return _one_of(value, DATA_TYPES)

    @field_validator("table", mode="before")
    @classmethod
    def _known_table(cls, value: object) -> object:
        return _one_of(value, TABLES)

    @field_validator("word_order", mode="before")
    @classmethod
    def _known_word_order(cls, value: object) -> object:
        return _one_of(value, WORD_ORDERS)

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

    @property
    def count(self) -> int:
        """Number of 16-bit registers the value occupies."""
        return register_count(self.type)

    @property
    def end(self) -> int:
        """First address after the value (exclusive end)."""
        return self.address + self.count


class Device(BaseModel):
    """One Modbus device (unit) and the machine it measures."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    machine_id: str
    name: str = ""
    plant: str = ""
    line: str = ""
    location: str = ""
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    device_id: int = Field(default=1, ge=0, le=255)
    poll_interval_s: float = Field(default=1.0, gt=0, le=3600)
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    max_gap_registers: int = Field(default=0, ge=0, le=100)
    registers: tuple[Register, ...] = Field(min_length=1, strict=False)

    @field_validator("machine_id", mode="before")
    @classmethod
    def _valid_machine_id(cls, value: object) -> str:
        try:
            return normalize_machine_id(value)
        except ContractError as exc:
            raise ValueError(str(exc).removeprefix("machine_id: ")) from exc

    @property
    def source(self) -> str:
        """Where readings of this device come from, e.g. ``modbus://10.0.0.5:502/1``."""
        return f"modbus://{self.host}:{self.port}/{self.device_id}"

    def machine_info(self) -> MachineInfo:
        """The registry entry the connector publishes for this device."""
        return MachineInfo(
            machine_id=self.machine_id,
            name=self.name,
            plant=self.plant,
            line=self.line,
            location=self.location,
            sensors=tuple(SensorInfo(name=r.name, unit=r.unit) for r in self.registers),
        )


def load_devices(path: Path) -> tuple[Device, ...]:
    """Read and validate a devices file; raise :class:`ConfigError` on the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the devices file ({exc.strerror})") from exc
    return parse_devices(text, source=str(path))


def parse_devices(text: str, *, source: str) -> tuple[Device, ...]:
    """Validate the YAML text of a devices file; ``source`` names it in error messages."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({_yaml_problem(exc)})") from exc
    if not isinstance(doc, dict) or "devices" not in doc:
        raise ConfigError(f"{source}: devices: required, a list of devices")
    unknown = sorted(str(k) for k in doc if k != "devices")
    if unknown:
        raise ConfigError(f"{source}: {unknown[0]}: unknown option")
    raw_devices = doc["devices"]
    if not isinstance(raw_devices, list) or not raw_devices:
        raise ConfigError(f"{source}: devices: must be a non-empty list of devices")
    devices = tuple(_device(raw, index=i, source=source) for i, raw in enumerate(raw_devices))
    _check_unique_devices(devices, source=source)
    return devices


def _device(raw: object, *, index: int, source: str) -> Device:
    where = _device_label(raw, index)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: must be a mapping of options")
    try:
        device = Device.model_validate(raw)
    except ValidationError as exc:
        field, message = _first_error(exc.errors()[0])
        raise ConfigError(f"{source}: {where}: {field}: {message}") from exc
    problem = _register_problem(device)
    if problem is not None:
        raise ConfigError(f"{source}: {where}: {problem}")
    return device


def _device_label(raw: object, index: int) -> str:
    if isinstance(raw, Mapping):
        mid = raw.get("machine_id")
        if isinstance(mid, (int, str)) and not isinstance(mid, bool) and str(mid):
            return f"device {mid}"
    return f"devices[{index}]"


def _first_error(error: ErrorDetails) -> tuple[str, str]:
    field = ""
    for part in error["loc"]:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else str(part)
    kind = error["type"]
    if kind == "missing":
        message = "field required"
    elif kind == "extra_forbidden":
        message = "unknown option"
    elif kind == "value_error":
        message = error["msg"].removeprefix("Value error, ")
    elif kind == "too_short":
        message = "must not be empty"
    else:
        message = _lower_first(error["msg"]).replace("input should be", "must be", 1)
        if "input" in error and not isinstance(error["input"], (dict, list)):
            message += f" (got {error['input']!r})"
    return field or "device", message


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _register_problem(device: Device) -> str | None:
    """Duplicate names and overlapping addresses, which field validation cannot see."""
    names: dict[str, int] = {}
    for i, reg in enumerate(device.registers):
        if reg.end - 1 > MAX_ADDRESS:
            return (
                f"registers[{i}].address: {reg.type} at {reg.address} runs past "
                f"address {MAX_ADDRESS}"
            )
        if reg.name in names:
            first = names[reg.name]
            return f"registers[{i}].name: {reg.name} is already used by registers[{first}]"
        names[reg.name] = i
        for j, other in enumerate(device.registers[:i]):
            if other.table == reg.table and reg.address < other.end and other.address < reg.end:
                return (
                    f"registers[{i}].address: {reg.name} ({_span(reg)}) overlaps "
                    f"registers[{j}] ({other.name}, {_span(other)})"
                )
    return None


def _span(reg: Register) -> str:
    if reg.count == 1:
        return f"{reg.table} {reg.address}"
    return f"{reg.table} {reg.address}-{reg.end - 1}"


def _check_unique_devices(devices: tuple[Device, ...], *, source: str) -> None:
    seen_ids: set[str] = set()
    seen_units: dict[tuple[str, int, int], str] = {}
    for device in devices:
        if device.machine_id in seen_ids:
            raise ConfigError(
                f"{source}: device {device.machine_id}: machine_id: used by another device"
            )
        seen_ids.add(device.machine_id)
        unit = (device.host, device.port, device.device_id)
        if unit in seen_units:
            raise ConfigError(
                f"{source}: device {device.machine_id}: device_id: {device.source} is already "
                f"polled for device {seen_units[unit]}"
            )
        seen_units[unit] = device.machine_id


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)
