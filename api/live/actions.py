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
from api.errors import (
    ApiError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    validation_detail,
)
from api.live.protocol import Ack, Command, result_frame
from contracts.alarm_actions import parse_alarm_id
from contracts.errors import ContractError

logger = logging.getLogger(__name__)

REQUIRED_ROLE = Role.engineer


@dataclass(frozen=True, slots=True)
class LiveActions:
    alarms: AlarmStore
    commands: CommandTracker

    async def ack(self, identity: Identity, request: Ack) -> dict[str, Any]:
        return await _answered("ack", request.request_id, self._ack(identity, request))

    async def command(self, identity: Identity, request: Command) -> dict[str, Any]:
        return await _answered("command", request.request_id, self._command(identity, request))

    async def _ack(self, identity: Identity, request: Ack) -> dict[str, Any]:
        _check_role(identity)
        try:
            parse_alarm_id(request.alarm_id)
        except ContractError as exc:
            raise InvalidInputError(str(exc)) from exc
        record = self.alarms.table.get(request.alarm_id)
        if record is None:
            raise NotFoundError(f"alarm {request.alarm_id!r}: not found")
        action = make_action(record, "acknowledge", identity.principal, comment=request.comment)
        await self.alarms.submit(action)
        return {"alarm_id": request.alarm_id, "action_id": action.action_id}

    async def _command(self, identity: Identity, request: Command) -> dict[str, Any]:
        _check_role(identity)
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
            raise InvalidInputError(validation_detail(exc.errors())) from exc
        await self.commands.submit(command)
        return {"command_id": command.command_id, "machine_id": request.machine_id}


def _check_role(identity: Identity) -> None:
    if not identity.role.at_least(REQUIRED_ROLE):
        raise PermissionDeniedError(
            f"role {REQUIRED_ROLE.value} or higher required; "
            f"{identity.name!r} has role {identity.role.value}"
        )


async def _answered(
    kind: str, request_id: str | None, accepted: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    """The result frame of an action: ``202`` with what ``accepted`` answers, or the status
    and detail of the API error it raised (the same as the REST route's)."""
    try:
        fields = await accepted
    except ApiError as exc:
        return result_frame(kind, request_id, status=exc.status_code, detail=str(exc))
    return result_frame(kind, request_id, status=202, **fields)
