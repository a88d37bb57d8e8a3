"""Commands the API produced and the results connectors answered with, kept in memory.

Both topics are read from their beginning at start-up and followed (no consumer group),
so a command's status survives an API restart for as long as the topics retain it. The
newest ``max_commands`` commands are kept.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from api.kafka.compacted import CompactedTopicReader
from api.kafka.producer import KafkaPublisher
from contracts.commands import (
    Command,
    CommandAction,
    CommandResult,
    decode_command,
    decode_command_result,
)
from contracts.errors import ContractError
from contracts.timefmt import now_ms
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _apply_value(
    value: bytes | None, decode: Callable[[bytes], T], add: Callable[[T], None], *, what: str
) -> None:
    """Decode one record (a tombstone: nothing) and add it; a bad one is logged and skipped."""
    if value is None:
        return
    try:
        add(decode(value))
    except ContractError as exc:
        logger.warning("%s record ignored error=%s", what, exc)


@dataclass(frozen=True, slots=True)
class CommandStatusView:
    command: Command
    result: CommandResult | None

    @property
    def status(self) -> str:
        return "pending" if self.result is None else self.result.status


class CommandTable:
    def __init__(self, *, max_commands: int) -> None:
        self._max = max_commands
        self._commands: OrderedDict[str, Command] = OrderedDict()
        self._results: OrderedDict[str, CommandResult] = OrderedDict()

    def add_command(self, command: Command) -> None:
        self._commands[command.command_id] = command
        self._commands.move_to_end(command.command_id)
        while len(self._commands) > self._max:
            old, _ = self._commands.popitem(last=False)
            self._results.pop(old, None)

    def add_result(self, result: CommandResult) -> None:
        self._results[result.command_id] = result
        while len(self._results) > self._max:
            self._results.popitem(last=False)

    def apply_command(self, key: bytes | None, value: bytes | None) -> None:
        _apply_value(value, decode_command, self.add_command, what="command")

    def apply_result(self, key: bytes | None, value: bytes | None) -> None:
        _apply_value(value, decode_command_result, self.add_result, what="command result")

    def get(self, command_id: str) -> CommandStatusView | None:
        command = self._commands.get(command_id)
        if command is None:
            return None
        result = self._results.get(command_id)
        if result is not None and result.machine_id != command.machine_id:
            result = None
        return CommandStatusView(command, result)


def make_command(
    machine_id: str,
    action: CommandAction,
    *,
    by: str,
    target: str | None = None,
    value: float | None = None,
    reason: str = "",
    ttl_s: float = 60.0,
) -> Command:
    """A new command; raise ``pydantic.ValidationError`` if it breaks the contract."""
    now = now_ms()
    return Command(
        command_id=uuid.uuid4().hex,
        machine_id=machine_id,
        action=action,
        target=target,
        value=value,
        requested_by=by,
        reason=reason,
        ts_ms=now,
        expires_ts_ms=now + int(ttl_s * 1000),
    )


class CommandTracker:
    def __init__(
        self,
        *,
        kafka: KafkaConnection,
        commands_topic: str,
        results_topic: str,
        publisher: KafkaPublisher,
        max_commands: int = 100_000,
    ) -> None:
        self.table = CommandTable(max_commands=max_commands)
        self.commands_topic = commands_topic
        self._publisher = publisher
        self._commands = CompactedTopicReader(
            kafka=kafka,
            topic=commands_topic,
            apply=self.table.apply_command,
        )
        self._results = CompactedTopicReader(
            kafka=kafka,
            topic=results_topic,
            apply=self.table.apply_result,
        )

    async def start(self, *, timeout_s: float) -> None:
        await self._commands.start(timeout_s=timeout_s)
        try:
            await self._results.start(timeout_s=timeout_s)
        except BaseException:
            await self._commands.stop()
            raise

    async def stop(self) -> None:
        await self._results.stop()
        await self._commands.stop()

    async def submit(self, command: Command) -> None:
        """Produce the command, wait for Kafka's ack, then track it."""
        await self._publisher.publish(
            self.commands_topic, [Record(command.key(), command.encode())]
        )
        self.table.add_command(command)
        logger.info(
            "command submitted command_id=%s machine_id=%s action=%s by=%s",
            command.command_id,
            command.machine_id,
            command.action,
            command.requested_by,
        )
