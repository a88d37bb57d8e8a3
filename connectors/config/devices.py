"""The devices file: which Modbus devices to poll and how to decode their registers.

Everything is validated when the file is loaded; the first problem raises
:class:`contracts.errors.ConfigError` naming the file, the device, the field and the value
it refused, e.g. ``devices.yaml: device 42: registers[1].type: must be one of float32,
int16, ... (got 'float') (register temperature_c)``. A tag's own fields are checked by
:class:`~connectors.config.tags.Register`; the messages are worded by
:mod:`connectors.config.problems`. ``devices.example.yaml`` at the repository root
documents every option.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.config.problems import first_error, quoted, yaml_problem
from connectors.config.register_types import BIT_TABLES
from connectors.config.tags import (
    MAX_ADDRESS,
    MAX_BITS_PER_REQUEST,
    MAX_REGISTERS_PER_REQUEST,
    MIN_POLL_INTERVAL_S,
    Register,
)
from contracts.errors import ConfigError, ContractError
from contracts.machines import MachineInfo, SensorInfo
from contracts.readings import normalize_machine_id

__all__ = [
    "MAX_BITS_PER_REQUEST",
    "MAX_REGISTERS_PER_REQUEST",
    "CommandWrite",
    "Commands",
    "Device",
    "Register",
    "Workarounds",
    "load_devices",
    "parse_devices",
]


class Workarounds(BaseModel):
    """Device quirks, as in Telegraf's modbus input."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    pause_between_requests_ms: int = Field(default=0, ge=0, le=10_000)
    max_registers_per_request: int = Field(
        default=MAX_REGISTERS_PER_REQUEST, ge=1, le=MAX_REGISTERS_PER_REQUEST
    )
    one_request_per_register: bool = False
    close_after_poll: bool = False


class CommandWrite(BaseModel):
    """One fixed write: ``value`` to ``address`` of ``table``."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    table: Literal["coil", "holding"] = "holding"
    address: int = Field(ge=0, le=MAX_ADDRESS)
    value: int = Field(ge=0, le=65535)


class Commands(BaseModel):
    """What commands a machine accepts: ``stop``/``start`` write ``value`` to one coil or
    holding register; setpoints go to tags marked ``writable``."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    stop: CommandWrite | None = None
    start: CommandWrite | None = None


class Device(BaseModel):
    """One Modbus device (unit) and the machine it measures."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    machine_id: str
    name: str = ""
    plant: str = ""
    line: str = ""
    location: str = ""
    protocol: Literal["tcp", "rtu_over_tcp", "rtu"] = "tcp"
    host: str = ""
    port: int = Field(default=502, ge=1, le=65535)
    serial_port: str = ""
    baudrate: int = Field(default=19200, ge=300, le=921_600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    device_id: int = Field(default=1, ge=0, le=255)
    poll_interval_s: float = Field(default=1.0, ge=MIN_POLL_INTERVAL_S, le=3600)
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    retries: int = Field(default=0, ge=0, le=10)
    max_gap_registers: int = Field(default=0, ge=0, le=100)
    workarounds: Workarounds = Field(default_factory=Workarounds)
    commands: Commands = Field(default_factory=Commands)
    registers: tuple[Register, ...] = Field(min_length=1, strict=False)

    @field_validator("machine_id", mode="before")
    @classmethod
    def _valid_machine_id(cls, value: object) -> str:
        try:
            return normalize_machine_id(value)
        except ContractError as exc:
            raise ValueError(str(exc).removeprefix("machine_id: ")) from exc

    @model_validator(mode="after")
    def _has_address(self) -> Self:
        if self.protocol == "rtu":
            if not self.serial_port:
                raise ValueError("serial_port: required for protocol rtu")
        elif not self.host:
            raise ValueError(f"host: required for protocol {self.protocol}")
        return self

    def serial_line(self) -> dict[str, Any]:
        """The line settings of an ``rtu`` device, as pyserial and pymodbus both take them."""
        return self.model_dump(include={"baudrate", "parity", "stopbits", "bytesize"})

    @property
    def source(self) -> str:
        """Where readings of this device come from, e.g. ``modbus://10.0.0.5:502/1``."""
        if self.protocol == "rtu":
            return f"modbus-rtu://{self.serial_port}/{self.device_id}"
        scheme = "modbus" if self.protocol == "tcp" else "modbus-rtu-tcp"
        return f"{scheme}://{self.host}:{self.port}/{self.device_id}"

    def interval_of(self, register: Register) -> float:
        """The poll interval of a tag: its own, or the device's."""
        return register.poll_interval_s or self.poll_interval_s

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
        raise ConfigError(f"{source}: not valid YAML ({yaml_problem(exc)})") from exc
    if not isinstance(doc, dict) or "devices" not in doc:
        raise ConfigError(f"{source}: devices: required, a list of devices")
    unknown = sorted(((str(k), v) for k, v in doc.items() if k != "devices"), key=lambda kv: kv[0])
    if unknown:
        option, value = unknown[0]
        raise ConfigError(f"{source}: {option}: unknown option (got {quoted(value)})")
    raw_devices = doc["devices"]
    if not isinstance(raw_devices, list) or not raw_devices:
        raise ConfigError(
            f"{source}: devices: must be a non-empty list of devices (got {quoted(raw_devices)})"
        )
    devices = tuple(_device(raw, index=i, source=source) for i, raw in enumerate(raw_devices))
    _check_unique_devices(devices, source=source)
    return devices


def _device(raw: object, *, index: int, source: str) -> Device:
    where = _device_label(raw, index)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: must be a mapping of options (got {quoted(raw)})")
    try:
        device = Device.model_validate(raw)
    except ValidationError as exc:
        field, message = first_error(exc.errors()[0], raw)
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
            if reg.type == "bit" == other.type and reg.table not in BIT_TABLES:
                if reg.address == other.address and reg.bit == other.bit:
                    return (
                        f"registers[{i}].bit: {reg.name} reads the same bit "
                        f"({_span(reg)}, bit {reg.bit}) as registers[{j}] ({other.name})"
                    )
                continue
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
                f"{source}: device {device.machine_id}: machine_id: {device.machine_id!r} is "
                "used by another device"
            )
        seen_ids.add(device.machine_id)
        unit = (device.host or device.serial_port, device.port, device.device_id)
        if unit in seen_units:
            raise ConfigError(
                f"{source}: device {device.machine_id}: device_id: {device.source} is already "
                f"polled for device {seen_units[unit]}"
            )
        seen_units[unit] = device.machine_id
