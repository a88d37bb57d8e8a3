"""Serve the devices of a devices file over Modbus TCP, driven by :class:`MachineModel`.

Devices are grouped by (host, port): one pymodbus ``ModbusTcpServer`` per address, with
one ``SimDevice`` per device, addressed by its ``device_id``. Each device gets one block
of registers per table spanning its configured registers; any other address answers
with a Modbus exception (illegal address). Every ``tick_s`` the model is stepped and the
registers rewritten with ``async_setValues`` (function code 3 = holding, 4 = input).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from connectors.decoding import Table, encode
from connectors.devices import Device, Register
from connectors.lifecycle import sleep_unless_stopped
from connectors.simulator.model import MachineModel, extra_signal
from contracts.errors import ConfigError

logger = logging.getLogger(__name__)

FUNCTION_CODE: dict[Table, int] = {"holding": 3, "input": 4}
# Coils and discrete inputs are not simulated yet: a device using them answers with an
# exception (illegal address), which the connector reports as quality ``bad``.


@dataclass(frozen=True, slots=True)
class TableBlock:
    """The span of one table of one device, from ``address`` for ``count`` registers."""

    table: Table
    address: int
    count: int
    registers: tuple[Register, ...]


def table_blocks(device: Device) -> tuple[TableBlock, ...]:
    """One block per table the device uses, covering all of that table's registers."""
    blocks = []
    for table in FUNCTION_CODE:
        regs = tuple(r for r in device.registers if r.table == table)
        if regs:
            start = min(r.address for r in regs)
            end = max(r.end for r in regs)
            blocks.append(TableBlock(table, start, end - start, regs))
    return tuple(blocks)


def block_values(block: TableBlock, values: dict[str, float], *, now_s: float) -> list[int]:
    """The registers of ``block`` holding ``values`` (encoded per register spec).

    Sensors missing from ``values`` get :func:`extra_signal`; values a register type
    cannot hold are clamped to its range.
    """
    out = [0] * block.count
    for reg in block.registers:
        value = values[reg.name] if reg.name in values else extra_signal(reg.name, now_s=now_s)
        start = reg.address - block.address
        if reg.type == "bit":
            bit = 1 << reg.bit
            out[start] = (out[start] | bit) if value >= 0.5 else (out[start] & ~bit)
            continue
        out[start : start + reg.count] = encode(
            value,
            data_type=reg.type,
            byte_order=reg.byte_order,
            scale=reg.scale,
            offset=reg.offset,
            clamp=True,
        )
    return out


def _sim_device(device: Device) -> SimDevice:
    tables: dict[Table, list[SimData]] = {
        table: [SimData(address=0, count=1, datatype=DataType.INVALID)] for table in FUNCTION_CODE
    }
    for block in table_blocks(device):
        tables[block.table] = [
            SimData(address=block.address, count=block.count, values=0, datatype=DataType.REGISTERS)
        ]
    no_bits = [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    return SimDevice(
        device.device_id,
        simdata=(no_bits, list(no_bits), tables["holding"], tables["input"]),
    )


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
    ) -> None:
        self._tick_s = tick_s
        self._groups: dict[tuple[str, int], list[Device]] = defaultdict(list)
        for device in devices:
            port = device.port if port_override is None else port_override
            group = self._groups[(device.host, port)]
            clash = next((d for d in group if d.device_id == device.device_id), None)
            if clash is not None:
                raise ConfigError(
                    f"device {device.machine_id}: device_id: {device.device_id} is also used "
                    f"by device {clash.machine_id} on {device.host}:{port}"
                )
            group.append(device)
        self._models = {
            d.machine_id: MachineModel(
                seed=f"{seed}:{d.machine_id}", overheat_every_s=overheat_every_s
            )
            for d in devices
        }
        self._blocks = {d.machine_id: table_blocks(d) for d in devices}
        self._servers: dict[tuple[str, int], ModbusTcpServer] = {}
        self._t0_s = 0.0

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """Every (host, port) served."""
        return list(self._groups)

    def model(self, machine_id: str) -> MachineModel:
        return self._models[machine_id]

    async def start(self) -> None:
        """Listen on every address and write the first values."""
        self._t0_s = asyncio.get_running_loop().time()
        try:
            for (host, port), devices in self._groups.items():
                server = ModbusTcpServer([_sim_device(d) for d in devices], address=(host, port))
                await server.serve_forever(background=True)
                self._servers[(host, port)] = server
                logger.info(
                    "simulator listening address=%s:%d devices=%s",
                    host,
                    port,
                    ",".join(f"{d.machine_id}(unit {d.device_id})" for d in devices),
                )
            await self.tick()
        except BaseException:
            await self.shutdown()
            raise

    async def tick(self) -> None:
        """Step every model to now and rewrite its registers."""
        now_s = asyncio.get_running_loop().time() - self._t0_s
        for endpoint, devices in self._groups.items():
            server = self._servers[endpoint]
            for device in devices:
                values = self._models[device.machine_id].sample(now_s=now_s).values()
                for block in self._blocks[device.machine_id]:
                    await server.async_setValues(
                        device.device_id,
                        FUNCTION_CODE[block.table],
                        block.address,
                        block_values(block, values, now_s=now_s),
                    )

    async def run(self, stop: asyncio.Event) -> None:
        """Serve and tick until ``stop`` is set, then shut down."""
        if not self._servers:
            await self.start()
        try:
            while not await sleep_unless_stopped(stop, self._tick_s):
                await self.tick()
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop listening and drop every client connection."""
        servers, self._servers = self._servers, {}
        for server in servers.values():
            await server.shutdown()  # type: ignore[no-untyped-call]
