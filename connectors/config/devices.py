"""The devices file: which Modbus devices to poll and how to decode their registers.

Everything is validated when the file is loaded; the first problem raises
:class:`contracts.errors.ConfigError` naming the file, the device, the field and the value
it refused, e.g. ``devices.yaml: device 42: registers[1].type: must be one of float32,
int16, ... (got 'float') (register temperature_c)``.
``devices.example.yaml`` at the repository root documents every option.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from connectors.modbus.decoding import (
    BIT_TABLES,
    BYTE_ORDERS,
    DATA_TYPES,
    ORDER_ALIASES,
    TABLES,
    ByteOrder,
    DataType,
    FieldSpec,
    Table,
    register_count,
)
from contracts.errors import ConfigError, ContractError
from contracts.machines import MachineInfo, SensorInfo
from contracts.patterns import check_sensor_name
from contracts.readings import normalize_machine_id

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

    def field_spec(self) -> FieldSpec:
        """What the block decoder needs of this tag."""
        return FieldSpec(
            name=self.name,
            address=self.address,
            data_type=self.type,
            byte_order=self.byte_order,
            scale=self.scale,
            offset=self.offset,
            bit=self.bit,
            length=self.length,
        )


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
        raise ConfigError(f"{source}: not valid YAML ({_yaml_problem(exc)})") from exc
    if not isinstance(doc, dict) or "devices" not in doc:
        raise ConfigError(f"{source}: devices: required, a list of devices")
    unknown = sorted(((str(k), v) for k, v in doc.items() if k != "devices"), key=lambda kv: kv[0])
    if unknown:
        option, value = unknown[0]
        raise ConfigError(f"{source}: {option}: unknown option (got {_shown(value)})")
    raw_devices = doc["devices"]
    if not isinstance(raw_devices, list) or not raw_devices:
        raise ConfigError(
            f"{source}: devices: must be a non-empty list of devices (got {_shown(raw_devices)})"
        )
    devices = tuple(_device(raw, index=i, source=source) for i, raw in enumerate(raw_devices))
    _check_unique_devices(devices, source=source)
    return devices


def _device(raw: object, *, index: int, source: str) -> Device:
    where = _device_label(raw, index)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: must be a mapping of options (got {_shown(raw)})")
    try:
        device = Device.model_validate(raw)
    except ValidationError as exc:
        field, message = _first_error(exc.errors()[0], raw)
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


def _first_error(error: ErrorDetails, raw: Mapping[str, object]) -> tuple[str, str]:
    field = ""
    loc = error["loc"]
    for part in loc:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else str(part)
    kind = error["type"]
    if kind == "missing":
        message = "field required"
    elif kind == "extra_forbidden":
        message = f"unknown option (got {_shown(error.get('input'))})"
    elif kind == "value_error":
        message = error["msg"].removeprefix("Value error, ")
        # A field's own check names the value here; a check across fields names it itself.
        if "input" in error and not isinstance(error["input"], dict):
            shown = _shown(error["input"])
            if not message.startswith(shown):
                message += f" (got {shown})"
    elif kind == "too_short":
        message = f"must not be empty (got {_shown(error.get('input'))})"
    else:
        message = _lower_first(error["msg"]).replace("input should be", "must be", 1)
        if "input" in error:
            message += f" (got {_shown(error['input'])})"
    if len(loc) >= 2 and loc[0] == "registers" and isinstance(loc[1], int):
        message = _with_register_name(message, raw, loc[1])
    head, sep, rest = message.partition(": ")
    if kind == "value_error" and sep and head.isidentifier():
        # A check across fields names the field it is about: "type: ...".
        field, message = (f"{field}.{head}" if field else head), rest
    return field or "device", message


def _with_register_name(message: str, raw: Mapping[str, object], index: int) -> str:
    """Name the register (tag) in a message about ``registers[index]``."""
    regs = raw.get("registers")
    if isinstance(regs, list) and index < len(regs) and isinstance(regs[index], Mapping):
        name = regs[index].get("name")
        if isinstance(name, str) and name:
            return f"{message} (register {name})"
    return message


def _shown(value: object, *, limit: int = 60) -> str:
    """``value`` as an error message quotes it: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def check_serial_ports(devices: Sequence[Device]) -> None:
    """Open and close the serial port of every ``rtu`` device once, at start-up, so a
    missing or busy port is a clear :class:`ConfigError` naming the device and
    ``serial_port`` rather than an endless reconnect loop."""
    import serial  # type: ignore[import-untyped]  # pyserial ships no type hints

    for device in devices:
        if device.protocol != "rtu":
            continue
        try:
            port = serial.Serial(
                device.serial_port,
                baudrate=device.baudrate,
                parity=device.parity,
                stopbits=device.stopbits,
                bytesize=device.bytesize,
                timeout=0,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConfigError(
                f"device {device.machine_id}: serial_port: cannot open {device.serial_port}: {exc}"
            ) from exc
        port.close()


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


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)
