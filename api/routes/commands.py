"""Commands to a machine's device: ``202`` with a command id once Kafka has it; the
command's status is ``pending`` until its connector answers on the command-results topic."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.commands.models import CommandBody, CommandView
from api.commands.tracker import CommandStatusView, CommandTracker, make_command
from api.deps import CommandTrackerDep, Engineer, Principal
from api.errors import NotFoundError
from api.flat import with_machine_id_json
from api.pathparams import MachineIdPath
from api.responses import conditional_json, json_response
from api.route_errors import INVALID_FIELD

router = APIRouter(prefix="/api", tags=["commands"])


def command_view(found: CommandStatusView) -> dict[str, Any]:
    out = with_machine_id_json(found.command.model_dump(mode="json"))
    out["status"] = found.status
    out["result"] = found.result.model_dump(mode="json") if found.result is not None else None
    return out


@router.post(
    "/machines/{machine_id}/commands",
    status_code=202,
    response_model=CommandView,
    responses=INVALID_FIELD,
)
async def send_command(
    machine_id: MachineIdPath, body: CommandBody, identity: Engineer, tracker: CommandTrackerDep
) -> Response:
    """Send ``stop``, ``start`` or ``setpoint`` to the machine's device. The connector runs
    it only if the machine's configuration allows it; poll the command's URL for the
    outcome."""
    command = make_command(
        machine_id,
        body.action,
        by=identity.principal,
        target=body.target,
        value=body.value,
        reason=body.reason,
        ttl_s=body.ttl_s,
    )
    await tracker.submit(command)
    return json_response(
        command_view(CommandStatusView(command, None)),
        status_code=202,
        headers={"Location": f"/api/machines/{machine_id}/commands/{command.command_id}"},
    )


def _found(tracker: CommandTracker, command_id: str, machine_id: str | None) -> dict[str, Any]:
    found = tracker.table.get(command_id)
    if found is None or (machine_id is not None and found.command.machine_id != machine_id):
        raise NotFoundError(f"command {command_id!r}: not found")
    return command_view(found)


@router.get(
    "/machines/{machine_id}/commands/{command_id}",
    response_model=CommandView,
    responses={404: {"description": "No such command for that machine"}},
)
async def get_machine_command(
    request: Request,
    machine_id: MachineIdPath,
    command_id: str,
    identity: Principal,
    tracker: CommandTrackerDep,
) -> Response:
    return conditional_json(request, _found(tracker, command_id, machine_id))


@router.get(
    "/commands/{command_id}",
    response_model=CommandView,
    responses={404: {"description": "No such command"}},
)
async def get_command(
    request: Request, command_id: str, identity: Principal, tracker: CommandTrackerDep
) -> Response:
    return conditional_json(request, _found(tracker, command_id, None))
