"""Machines: the registry read from the machines topic; writes go to the API's overlay
record of each machine (see :mod:`api.machines.overlay`).

Every GET carries an ``ETag`` (``If-None-Match`` -> ``304``); ``If-Match`` on a write makes
it conditional (``412`` when stale).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import Engineer, MachinesDep, Principal
from api.errors import ConflictError, NotFoundError
from api.machines.models import MachineCreate, MachineFields, MachineOut, MachinePatch
from api.machines.overlay import MachineOverlay
from api.machines.registry import MachineRegistry, machine_view
from api.pathparams import MachineIdPath
from api.responses import check_if_match, conditional_json, versioned_json
from contracts.timefmt import now_ms

router = APIRouter(prefix="/api", tags=["machines"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No machine with that id"}}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    412: {"description": "If-Match names a version that is no longer current"},
    422: {"description": "A field is invalid; the detail names it"},
}


def _view(machines: MachineRegistry, machine_id: str) -> dict[str, Any] | None:
    info = machines.get(machine_id)
    return machine_view(info) if info is not None else None


def _existing(machines: MachineRegistry, machine_id: str) -> dict[str, Any]:
    view = _view(machines, machine_id)
    if view is None:
        raise NotFoundError(f"machine {machine_id}: not found")
    return view


@router.get("/machines", response_model=list[MachineOut])
async def list_machines(request: Request, identity: Principal, machines: MachinesDep) -> Response:
    """Every registered machine, numeric ids in numeric order."""
    return conditional_json(request, [machine_view(m) for m in machines.all()])


@router.get("/machines/{machine_id}", response_model=MachineOut, responses=_NOT_FOUND)
async def get_machine(
    request: Request, machine_id: MachineIdPath, identity: Principal, machines: MachinesDep
) -> Response:
    return conditional_json(request, _existing(machines, machine_id))


@router.post(
    "/machines",
    status_code=201,
    response_model=MachineOut,
    responses={409: {"description": "A machine with that id exists"}, 422: _WRITE[422]},
)
async def create_machine(
    body: MachineCreate, identity: Engineer, machines: MachinesDep
) -> Response:
    """Add a machine (``409`` if it exists; a DELETEd machine can be created again)."""
    machine_id = str(body.machine_id)
    if machines.get(machine_id) is not None:
        raise ConflictError(f"machine {machine_id}: exists; use PUT or PATCH to change it")
    fields = body.model_dump(mode="json", exclude={"machine_id"})
    await machines.write_overlay(_overlay(machine_id, fields, identity.principal))
    return versioned_json(
        _existing(machines, machine_id),
        status_code=201,
        headers={"Location": f"/api/machines/{machine_id}"},
    )


def _overlay(machine_id: str, fields: dict[str, Any], by: str) -> MachineOverlay:
    return MachineOverlay(
        machine_id=machine_id, fields=fields, updated_by=by, updated_ts_ms=now_ms()
    )


@router.put("/machines/{machine_id}", response_model=MachineOut, responses=_WRITE)
async def replace_machine(
    request: Request,
    machine_id: MachineIdPath,
    body: MachineFields,
    identity: Engineer,
    machines: MachinesDep,
) -> Response:
    """Replace every API-owned field of a machine (what a connector sends no longer shows)."""
    check_if_match(request, _existing(machines, machine_id))
    await machines.write_overlay(
        _overlay(machine_id, body.model_dump(mode="json"), identity.principal)
    )
    return versioned_json(_existing(machines, machine_id))


@router.patch("/machines/{machine_id}", response_model=MachineOut, responses=_WRITE)
async def update_machine(
    request: Request,
    machine_id: MachineIdPath,
    body: MachinePatch,
    identity: Engineer,
    machines: MachinesDep,
) -> Response:
    """Change some fields; they keep their value when the machine's connector restarts."""
    check_if_match(request, _existing(machines, machine_id))
    current = machines.table.overlay(machine_id)
    fields = dict(current.fields) if current is not None and not current.deleted else {}
    for name, value in body.model_dump(mode="json", exclude_unset=True).items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    await machines.write_overlay(_overlay(machine_id, fields, identity.principal))
    return versioned_json(_existing(machines, machine_id))


@router.delete("/machines/{machine_id}", status_code=204, responses=_WRITE)
async def delete_machine(
    request: Request, machine_id: MachineIdPath, identity: Engineer, machines: MachinesDep
) -> Response:
    """Remove a machine; it stays removed when its connector republishes it."""
    check_if_match(request, _existing(machines, machine_id))
    await machines.write_overlay(
        MachineOverlay(
            machine_id=machine_id,
            deleted=True,
            updated_by=identity.principal,
            updated_ts_ms=now_ms(),
        )
    )
    return Response(status_code=204)
