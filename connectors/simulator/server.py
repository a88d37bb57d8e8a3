"""Serve the devices of a devices file over Modbus, driven by :class:`MachineModel`.

Devices are grouped by endpoint: one pymodbus server per address, with one ``SimDevice``
per device, addressed by its ``device_id``. A device's ``protocol`` picks the server:
``tcp`` a ``ModbusTcpServer``; ``rtu_over_tcp`` the same with RTU frames; ``rtu`` a
``ModbusSerialServer`` on the other end of the device's serial line (``serial_ports`` maps
the connector's port to the simulator's, e.g. the two ends of a pty pair). Each device gets
one block of registers per table spanning its configured registers; any other address
answers with a Modbus exception (illegal address). Every ``tick_s`` the model is stepped and the
registers rewritten with ``async_setValues`` (function code 3 = holding, 4 = input).

Exception-response episodes (:mod:`connectors.simulator.faults`) make a register range
of one machine answer clients' reads and writes with a Modbus exception for a while; the
simulator's own register updates are not refused.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimAction, SimData, SimDevice

from connectors.config.devices import Device
from connectors.config.register_types import BIT_TABLES, Table
from connectors.lifecycle import sleep_unless_stopped
from connectors.simulator.faults import ExceptionEpisode, exception_code
from connectors.simulator.layout import (
    CLIENT_WRITABLE,
    FUNCTION_CODE,
    TableBlock,
    block_values,
    keeps_client_writes,
    run_register,
    table_blocks,
)
from connectors.simulator.loop_server import LoopModbusTcpServer
from connectors.simulator.model import MachineModel
from contracts.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the simulator serves: a TCP address, or a serial port (``port`` 0)."""

    protocol: Literal["tcp", "rtu_over_tcp", "rtu"]
    host: str
    port: int
    baudrate: int = 19200
    parity: str = "N"
    stopbits: int = 1

    def __str__(self) -> str:
        return self.host if self.protocol == "rtu" else f"{self.host}:{self.port}"

    def serial_line(self) -> dict[str, Any]:
        """The line settings of a serial endpoint (8 data bits), as pymodbus takes them."""
        return {"baudrate": self.baudrate, "parity": self.parity, "stopbits": self.stopbits}


# Set while the simulator itself reads and writes its registers: exception episodes
# refuse clients only.
_INTERNAL = contextvars.ContextVar("simulator_internal_access", default=False)


def _sim_device(device: Device, action: SimAction | None = None) -> SimDevice:
    tables: dict[Table, list[SimData]] = {
        table: [SimData(address=0, count=1, datatype=DataType.INVALID)] for table in FUNCTION_CODE
    }
    for table in BIT_TABLES:  # pymodbus needs a bit block; an unused one is never read
        tables[table] = [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    for block in table_blocks(device):
        if block.table in BIT_TABLES:
            data = SimData(
                address=block.address, values=[False] * block.count, datatype=DataType.BITS
            )
        else:
            data = SimData(
                address=block.address, count=block.count, values=0, datatype=DataType.REGISTERS
            )
        tables[block.table] = [data]
    return SimDevice(
        device.device_id,
        simdata=(tables["coil"], tables["discrete"], tables["holding"], tables["input"]),
        action=action,
    )


def _model(machine_id: str, seed: int, overheat_every_s: float) -> MachineModel:
    """Machine 42 overheats every ``overheat_every_s``; the others three times as seldom,
    each at its own moment, so a factory does not overheat all at once."""
    if machine_id == "42" or overheat_every_s <= 0:
        return MachineModel(seed=f"{seed}:{machine_id}", overheat_every_s=overheat_every_s)
    every_s = 3 * overheat_every_s
    phase_s = random.Random(f"phase:{seed}:{machine_id}").uniform(0, every_s)
    return MachineModel(seed=f"{seed}:{machine_id}", overheat_every_s=every_s, start_s=-phase_s)


def _alike_blocks(
    blocks: Iterable[Sequence[TableBlock]], models: Iterable[MachineModel]
) -> dict[int, int]:
    """The blocks (by id) whose registers are the same on every device with an equal block,
    mapped to one id per such group: read-only tables of tags the model does not drive
    (:func:`~connectors.simulator.model.extra_signal` and text tags depend on the name and
    the time only)."""
    modelled = {name for model in models for name in model.state.values()}
    first: dict[TableBlock, int] = {}
    out = {}
    for block in (b for device_blocks in blocks for b in device_blocks):
        if block.table in CLIENT_WRITABLE or any(r.name in modelled for r in block.registers):
            continue
        out[id(block)] = first.setdefault(block, id(block))
    return out


class SimulatorServer:
    """Serves simulated machines; :meth:`start`, then :meth:`run` or :meth:`tick`."""

    def __init__(
        self,
        devices: Sequence[Device],
        *,
        tick_s: float = 0.5,
        overheat_every_s: float = 300.0,
        seed: int = 0,
        port_override: int | None = None,
        comm_loss_every_s: float = 0.0,
        comm_loss_s: float = 15.0,
        exception_episodes: Sequence[ExceptionEpisode] = (),
        serial_ports: Mapping[str, str] | None = None,
    ) -> None:
        self._tick_s = tick_s
        self._episodes = tuple(exception_episodes)
        known = {d.machine_id for d in devices}
        for episode in self._episodes:
            if episode.machine_id not in known:
                raise ConfigError(
                    f"exception episode: machine {episode.machine_id} is not simulated"
                )
        self._comm_loss_every_s = comm_loss_every_s
        self._comm_loss_s = comm_loss_s
        self._rng = random.Random(f"comm-loss:{seed}")
        self._offline: dict[Endpoint, float] = {}
        self._groups: dict[Endpoint, list[Device]] = defaultdict(list)
        serial_ports = serial_ports or {}
        for device in devices:
            if device.protocol == "rtu":
                path = serial_ports.get(device.serial_port, device.serial_port)
                endpoint = Endpoint("rtu", path, 0, device.baudrate, device.parity, device.stopbits)
            else:
                port = device.port if port_override is None else port_override
                endpoint = Endpoint(device.protocol, device.host, port)
            group = self._groups[endpoint]
            clash = next((d for d in group if d.device_id == device.device_id), None)
            if clash is not None:
                raise ConfigError(
                    f"device {device.machine_id}: device_id: {device.device_id} is also used "
                    f"by device {clash.machine_id} on {endpoint}"
                )
            group.append(device)
        self._models = {d.machine_id: _model(d.machine_id, seed, overheat_every_s) for d in devices}
        self._blocks = {d.machine_id: table_blocks(d) for d in devices}
        self._alike = _alike_blocks(self._blocks.values(), self._models.values())
        # The blocks (by id) read back before each update, to keep what clients wrote.
        self._read_back = {
            id(block)
            for d in devices
            for block in self._blocks[d.machine_id]
            if keeps_client_writes(block, None if (run := run_register(d)) is None else run[0])
        }
        self._servers: dict[Endpoint, ModbusTcpServer | ModbusSerialServer] = {}
        self._t0_s = 0.0

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every address served."""
        return list(self._groups)

    def model(self, machine_id: str) -> MachineModel:
        return self._models[machine_id]

    async def _listen(self, endpoint: Endpoint) -> None:
        devices = self._groups[endpoint]
        sims = [_sim_device(d, self._action_for(d)) for d in devices]
        server: ModbusTcpServer | ModbusSerialServer
        if endpoint.protocol == "rtu":
            server = ModbusSerialServer(
                sims,
                framer=FramerType.RTU,
                port=endpoint.host,
                bytesize=8,
                **endpoint.serial_line(),
            )
        else:
            framer = FramerType.SOCKET if endpoint.protocol == "tcp" else FramerType.RTU
            server = LoopModbusTcpServer(
                sims, framer=framer, address=(endpoint.host, endpoint.port)
            )
        await server.serve_forever(background=True)
        self._servers[endpoint] = server
        logger.info(
            "simulator listening protocol=%s address=%s devices=%s",
            endpoint.protocol,
            endpoint,
            ",".join(f"{d.machine_id}(unit {d.device_id})" for d in devices),
        )

    def _action_for(self, device: Device) -> SimAction | None:
        if not any(e.machine_id == device.machine_id for e in self._episodes):
            return None
        return functools.partial(self._refuse, device.machine_id)

    async def _refuse(
        self,
        machine_id: str,
        function_code: int,
        _start_address: int,
        address: int,
        count: int,
        _registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """The exception a client's request gets during an episode, else ``None``."""
        if _INTERNAL.get():
            return None
        now_s = asyncio.get_running_loop().time() - self._t0_s
        if function_code in (1, 2, 5, 15):
            # pymodbus passes the number of 16-bit words a bit request spans, not of bits:
            # a read of coils or discrete inputs is refused if its words reach the range.
            count = len(values) if values else count * 16 - address % 16
        code = exception_code(
            self._episodes,
            machine_id,
            function_code=function_code,
            address=address,
            count=count,
            now_s=now_s,
        )
        return None if code is None else ExcCodes(code)

    async def start(self) -> None:
        """Listen on every address and write the first values."""
        self._t0_s = asyncio.get_running_loop().time()
        try:
            for endpoint in self._groups:
                await self._listen(endpoint)
            await self.tick(first=True)
        except BaseException:
            await self.shutdown()
            raise

    async def tick(self, *, first: bool = False) -> None:
        """Apply what clients wrote (stop/start), step every model to now and rewrite its
        registers; writable tags keep what clients wrote."""
        token = _INTERNAL.set(True)
        try:
            await self._tick(first=first)
        finally:
            _INTERNAL.reset(token)

    async def _tick(self, *, first: bool) -> None:
        now_s = asyncio.get_running_loop().time() - self._t0_s
        # Registers of the blocks alike on every device, computed once a tick.
        alike: dict[int, list[int]] = {}
        for endpoint, devices in self._groups.items():
            server = self._servers.get(endpoint)
            if server is None:
                continue
            for device in devices:
                model = self._models[device.machine_id]
                run = run_register(device)
                values: dict[str, float] | None = None
                for block in self._blocks[device.machine_id]:
                    fc = FUNCTION_CODE[block.table]
                    current = None
                    # Read back only where what a client wrote must stay.
                    if not first and id(block) in self._read_back:
                        got = await server.async_getValues(
                            device.device_id, fc, block.address, block.count
                        )
                        current = [int(v) for v in got]
                    if run is not None and block.table == "holding":
                        index = run[0] - block.address
                        if current is None:
                            current = [0] * block.count
                            current[index] = run[2]
                        elif current[index] in (run[1], run[2]):
                            model.set_running(current[index] == run[2])
                    if values is None:  # holding first: after set_running
                        values = model.sample(now_s=now_s).values()
                    twin = self._alike.get(id(block))
                    regs = alike.get(twin) if twin is not None else None
                    if regs is None:
                        regs = block_values(
                            block, values, now_s=now_s, current=None if first else current
                        )
                        if twin is not None:
                            alike[twin] = regs
                    if first and run is not None and block.table == "holding":
                        regs[run[0] - block.address] = run[2]
                    if block.table in BIT_TABLES:
                        bits = [bool(v) for v in regs]
                        await server.async_setValues(device.device_id, fc, block.address, bits)
                        continue
                    await server.async_setValues(device.device_id, fc, block.address, regs)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve and tick until ``stop`` is set, then shut down."""
        if not self._servers:
            await self.start()
        loop = asyncio.get_running_loop()
        next_loss_s = loop.time() + self._comm_loss_every_s
        try:
            while not await sleep_unless_stopped(stop, self._tick_s):
                now_s = loop.time()
                if self._comm_loss_every_s > 0 and now_s >= next_loss_s:
                    next_loss_s = now_s + self._comm_loss_every_s
                    await self._lose_one(until_s=now_s + self._comm_loss_s)
                for endpoint, until_s in list(self._offline.items()):
                    if now_s >= until_s:
                        del self._offline[endpoint]
                        await self._listen(endpoint)
                        logger.info("simulator back online address=%s", endpoint)
                await self.tick()
        finally:
            await self.shutdown()

    async def _lose_one(self, *, until_s: float) -> None:
        """Take one address off the network (communication loss) until ``until_s``."""
        online = [e for e in self._servers if e not in self._offline]
        if not online:
            return
        endpoint = self._rng.choice(online)
        server = self._servers.pop(endpoint)
        await server.shutdown()  # type: ignore[no-untyped-call]
        self._offline[endpoint] = until_s
        logger.info("simulator comm loss address=%s until_s=%.0f", endpoint, until_s)

    async def shutdown(self) -> None:
        """Stop listening and drop every client connection."""
        servers, self._servers = self._servers, {}
        for server in servers.values():
            await server.shutdown()  # type: ignore[no-untyped-call]
