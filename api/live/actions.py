"""The ``ack`` and ``command`` actions of ``/live``: the same checks and records as their
REST routes (``POST /api/alarms/{id}/acknowledge``, ``POST /api/machines/{id}/commands``),
answered with a ``result`` frame instead of an HTTP status."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from api.alarms.store import AlarmStore, make_action
from api.auth.roles import Identity, Role
from api.commands.tracker import CommandTracker, make_command
from api.errors import ApiError, validation_detail
from api.live.protocol import Ack, Command, result_frame
from contracts.alarm_actions import parse_alarm_id
from contracts.errors import ContractError

logger = logging.getLogger(__name__)

REQUIRED_ROLE = Role.engineer


@dataclass(frozen=True, slots=True)
class LiveActions:
    alarms: AlarmStore
    commands: CommandTracker

    def _refused(
        self, identity: Identity, action: str, request_id: str | None
    ) -> dict[str, Any] | None:
        if identity.role.at_least(REQUIRED_ROLE):
            return None
        return result_frame(
            action,
            request_id,
            status=403,
            detail=f"role {REQUIRED_ROLE.value} or higher required; "
            f"{identity.name!r} has role {identity.role.value}",
        )

    async def ack(self, identity: Identity, request: Ack) -> dict[str, Any]:
        refused = self._refused(identity, "ack", request.request_id)
        if refused is not None:
            return refused
        try:
            parse_alarm_id(request.alarm_id)
        except ContractError as exc:
            return result_frame("ack", request.request_id, status=422, detail=str(exc))
        record = self.alarms.table.get(request.alarm_id)
        if record is None:
            return result_frame(
                "ack",
                request.request_id,
                status=404,
                detail=f"alarm {request.alarm_id!r}: not found",
            )
        action = make_action(record, "acknowledge", identity.principal, comment=request.comment)
        return await _submitted(
            "ack",
            request.request_id,
            self.alarms.submit(action),
            alarm_id=request.alarm_id,
            action_id=action.action_id,
        )

    async def command(self, identity: Identity, request: Command) -> dict[str, Any]:
        refused = self._refused(identity, "command", request.request_id)
        if refused is not None:
            return refused
        try:
            command = make_command(
                request.machine_id,
                request.command,  # type: ignore[arg-type]
                by=identity.principal,
                target=request.target,
                value=request.value,
                reason=request.reason,
            )
        except ValidationError as exc:
            return result_frame(
                "command", request.request_id, status=422, detail=validation_detail(exc.errors())
            )
        return await _submitted(
            "command",
            request.request_id,
            self.commands.submit(command),
            command_id=command.command_id,
            machine_id=request.machine_id,
        )


async def _submitted(
    kind: str, request_id: str | None, submit: Awaitable[object], **accepted: Any
) -> dict[str, Any]:
    """The result frame of a submission: ``202`` with ``accepted``, or the API error's."""
    try:
        await submit
    except ApiError as exc:
        return result_frame(kind, request_id, status=exc.status_code, detail=str(exc))
    return result_frame(kind, request_id, status=202, **accepted)
