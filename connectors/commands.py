"""Commands to devices: check them against the machine's configuration, write, report.

:func:`plan_write` is the pure core: it turns a :class:`~contracts.commands.Command` into
the Modbus write to make, or a refusal reason (not this connector's machine, expired,
action not configured, target not writable, value out of range or not encodable).
:class:`CommandRunner` is the edge: it consumes the commands topic (a consumer group of
its own per connector, since every connector must see every command and keep those of
its machines), writes through the machine's poller connection (so writes and reads never
interleave on the wire), and produces a :class:`~contracts.commands.CommandResult`.

Function codes: a coil is written with FC 5 (write single coil), one register with FC 6
(write single register), a wider value with FC 16 (write multiple registers). FC 15
(write multiple coils) is used when a write spans several coils (not produced by the
current actions, which write one coil at most).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError

from connectors.config.devices import Device
from connectors.modbus.connection import TRANSPORT_ERRORS, TransportError
from connectors.modbus.decoding import encode
from connectors.modbus.poller import DevicePoller
from contracts.commands import Command, CommandResult, CommandStatus, decode_command
from contracts.errors import ContractError
from contracts.timefmt import now_ms
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Publisher, Record
from kafka_edge.retry import RetryPolicy, RetryStopped, retry_async
from kafka_edge.sync_clients import kafka_consumer

logger = logging.getLogger(__name__)

# Rebuilding the commands consumer after a Kafka error: 1 s, doubling to 5 s, jittered.
CONSUMER_RETRY = RetryPolicy(initial_s=1.0, max_s=5.0)


@dataclass(frozen=True, slots=True)
class Write:
    """One Modbus write: ``values`` (registers, or 0/1 for coils) from ``address`` on."""

    table: str
    address: int
    values: tuple[int, ...]

    @property
    def function_code(self) -> int:
        if self.table == "coil":
            return 5 if len(self.values) == 1 else 15
        return 6 if len(self.values) == 1 else 16


def plan_write(
    command: Command, device: Device | None, *, now_ms: int, max_age_s: float
) -> Write | str:
    """The write ``command`` asks for, or why it is refused."""
    if device is None:
        return f"machine {command.machine_id} is not served by this connector"
    if command.expires_ts_ms is not None and now_ms > command.expires_ts_ms:
        return "expired before it could run"
    if now_ms - command.ts_ms > max_age_s * 1000:
        return f"older than {max_age_s:g} s when it arrived"
    if command.action in ("stop", "start"):
        fixed = getattr(device.commands, command.action)
        if fixed is None:
            return f"action {command.action} is not allowed for machine {device.machine_id}"
        return Write(fixed.table, fixed.address, (fixed.value,))
    tag = next((r for r in device.registers if r.name == command.target), None)
    if tag is None or not tag.writable:
        return f"setpoint: {command.target} is not a writable tag of machine {device.machine_id}"
    if tag.table not in ("holding", "coil"):
        return f"setpoint: {command.target} is in the {tag.table} table, which is read-only"
    value = command.value
    if value is None:
        raise RuntimeError("expected value is not None")
    if not math.isfinite(value):
        return f"setpoint: {value!r} is not a finite number"
    if (tag.min is not None and value < tag.min) or (tag.max is not None and value > tag.max):
        return (
            f"setpoint: {value:g} is outside {tag.min:g}..{tag.max:g}"
            if (tag.min is not None and tag.max is not None)
            else f"setpoint: {value:g} is outside the allowed range"
        )
    if tag.table == "coil":
        if value not in (0.0, 1.0):
            return f"setpoint: a coil takes 0 or 1, not {value:g}"
        return Write("coil", tag.address, (int(value),))
    if tag.type == "bit":
        return f"setpoint: {command.target} is one bit of a register; write the register"
    try:
        regs = encode(
            value, data_type=tag.type, byte_order=tag.byte_order, scale=tag.scale, offset=tag.offset
        )
    except ValueError as exc:
        return f"setpoint: {exc}"
    return Write("holding", tag.address, tuple(regs))


async def execute(poller: DevicePoller, write: Write) -> str | None:
    """Make ``write`` on the poller's connection; ``None`` on success, else why it failed."""
    device_id = poller.device.device_id
    poller.will_hold_connection()
    async with poller.write_lock:
        try:
            client: Any = await poller.connected_client()
            if write.table == "coil":
                if len(write.values) == 1:
                    response = await client.write_coil(
                        write.address, bool(write.values[0]), device_id=device_id
                    )
                else:
                    response = await client.write_coils(
                        write.address, [bool(v) for v in write.values], device_id=device_id
                    )
            elif len(write.values) == 1:
                response = await client.write_register(
                    write.address, write.values[0], device_id=device_id
                )
            else:
                response = await client.write_registers(
                    write.address, list(write.values), device_id=device_id
                )
        except (*TRANSPORT_ERRORS, TransportError) as exc:
            poller.close()
            return f"device not reachable: {exc}"
    if response.isError():
        return (
            f"device refused the write (exception_code={getattr(response, 'exception_code', None)})"
        )
    return None


class CommandRunner:
    """Consumes commands for ``pollers``' machines, executes them, publishes results."""

    def __init__(
        self,
        *,
        consumer_factory: Callable[[], Any],
        pollers: Mapping[str, DevicePoller],
        publisher: Publisher,
        results_topic: str,
        executed_by: str,
        max_age_s: float,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._factory = consumer_factory
        self._pollers = pollers
        self._publisher = publisher
        self._results_topic = results_topic
        self._executed_by = executed_by
        self._max_age_s = max_age_s
        self._clock_ms = clock_ms
        self.counts: dict[CommandStatus, int] = {"succeeded": 0, "refused": 0, "failed": 0}

    async def run(self, stop: asyncio.Event, *, retry: RetryPolicy = CONSUMER_RETRY) -> None:
        """Consume until ``stop``; a Kafka error is logged and the consumer rebuilt."""
        with contextlib.suppress(RetryStopped):
            await retry_async(
                lambda: self._consume(stop),
                policy=retry,
                what="command consumer",
                retry_on=(KafkaError,),
                stop=stop,
                healthy_after_s=60.0,
            )

    async def _consume(self, stop: asyncio.Event) -> None:
        consumer: Any = await asyncio.to_thread(self._factory)
        try:
            while not stop.is_set():
                batches = await asyncio.to_thread(consumer.poll, 300)
                for records in batches.values():
                    for record in records:
                        await self.handle(record.value)
                if batches:
                    await asyncio.to_thread(consumer.commit)
        finally:
            await asyncio.to_thread(consumer.close)

    async def handle(self, data: bytes) -> CommandResult | None:
        """Execute one command record; ``None`` if it is not for this connector."""
        try:
            command = decode_command(data)
        except ContractError as exc:
            logger.warning("command ignored: not a valid command error=%s", exc)
            return None
        poller = self._pollers.get(command.machine_id)
        if poller is None:
            return None
        now = self._clock_ms()
        planned = plan_write(command, poller.device, now_ms=now, max_age_s=self._max_age_s)
        if isinstance(planned, str):
            status: CommandStatus = "refused"
            reason = planned
        else:
            failure = await execute(poller, planned)
            status = "failed" if failure else "succeeded"
            reason = failure or f"wrote {list(planned.values)} to {planned.table} " + (
                f"{planned.address} (function code {planned.function_code})"
            )
        self.counts[status] += 1
        result = CommandResult(
            command_id=command.command_id,
            machine_id=command.machine_id,
            status=status,
            reason=reason[:500],
            executed_by=self._executed_by,
            ts_ms=self._clock_ms(),
        )
        logger.info(
            "command %s command_id=%s machine_id=%s action=%s requested_by=%s reason=%s",
            status,
            command.command_id,
            command.machine_id,
            command.action,
            command.requested_by,
            reason,
        )
        try:
            await self._publisher.publish(
                self._results_topic, [Record(result.key(), result.encode())]
            )
        except KafkaError as exc:
            # Not retried: the write was made; the publisher counted and logged the loss.
            logger.error(
                "command result not delivered command_id=%s error=%r", command.command_id, exc
            )
        return result


def build_command_consumer(connection: KafkaConnection, topic: str, *, group_id: str) -> Any:
    """A consumer of the commands topic in a group of this connector's own."""
    return kafka_consumer(
        connection,
        topic,
        group_id=group_id,
        enable_auto_commit=False,
        # A new connector reads what is there; commands older than max_age_s are refused
        # with that reason rather than run late.
        auto_offset_reset="earliest",
    )
