"""Machines: the registry read from the machines topic; writes go to the API's overlay
record of each machine (see :mod:`api.machines.overlay`).

``GET /api/machines/{id}`` is the seed's machine object (:mod:`api.machines.views`): the
registry's fields with the live part (values, status, alarms, last maintenance). Its
``ETag`` is weak and versions the writable fields only: ``If-None-Match`` gives ``304``
while only live values changed, ``If-Match`` on a write makes it conditional (``412``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import Engineer, MachinesDep, Principal, ServicesDep
from api.errors import ConflictError, InvalidInputError, NotFoundError
from api.machines.live import LiveSources, machine_with_live
from api.machines.models import (
    MachineCreate,
    MachineFields,
    MachineListItem,
    MachineOut,
    MachinePatch,
)
from api.machines.overlay import MachineOverlay
from api.machines.registry import MachineRegistry
from api.machines.views import primary_of, writable_view
from api.pathparams import MachineIdPath
from api.responses import (
    check_if_match,
    conditional_json,
    json_response,
    none_match,
    versioned_json,
    weak_etag_of,
)
from api.route_errors import WRITE_ERRORS, Responses
from api.services import Services
from contracts.machines import MachineInfo
from contracts.timefmt import now_ms

router = APIRouter(prefix="/api", tags=["machines"])

_NOT_FOUND: Responses = {404: {"description": "No machine with that id"}}
_WRITE: Responses = {**_NOT_FOUND, **WRITE_ERRORS}


def _existing(machines: MachineRegistry, machine_id: str) -> MachineInfo:
    info = machines.get(machine_id)
    if info is None:
        raise NotFoundError(f"machine {machine_id}: not found")
    return info


def _sources(services: Services) -> LiveSources:
    settings = services.settings
    return LiveSources(
        history=services.history,
        alarms=services.alarms,
        maintenance=services.maintenance.table,
        lookback_s=settings.machine_live_lookback_s,
        offline_after_s=settings.machine_offline_after_s,
    )


async def _answer(
    services: Services, machine_id: str, *, status_code: int = 200, **headers: str
) -> Response:
    """The machine as GET now shows it, with its ETag (after a write)."""
    info = _existing(services.machines, machine_id)
    body = await machine_with_live(info, _sources(services))
    return versioned_json(
        body, status_code=status_code, headers=headers, etag=weak_etag_of(writable_view(info))
    )


@router.get("/machines", response_model=list[MachineListItem])
async def list_machines(request: Request, identity: Principal, machines: MachinesDep) -> Response:
    """Every registered machine, numeric ids in numeric order: the writable fields only
    (no live values, status, alarms or maintenance; GET one machine for those)."""
    return conditional_json(request, [writable_view(m) for m in machines.all()])


@router.get("/machines/{machine_id}", response_model=MachineOut, responses=_NOT_FOUND)
async def get_machine(
    request: Request, machine_id: MachineIdPath, identity: Principal, services: ServicesDep
) -> Response:
    """The machine with its latest values, status, active alarms and last maintenance."""
    info = _existing(services.machines, machine_id)
    tag = weak_etag_of(writable_view(info))
    if none_match(request, tag):
        return Response(status_code=304, headers={"ETag": tag})
    body = await machine_with_live(info, _sources(services))
    return json_response(body, headers={"ETag": tag})


@router.post(
    "/machines",
    status_code=201,
    response_model=MachineOut,
    responses={409: {"description": "A machine with that id exists"}, 422: _WRITE[422]},
)
async def create_machine(
    body: MachineCreate, identity: Engineer, services: ServicesDep
) -> Response:
    """Add a machine (``409`` if it exists; a DELETEd machine can be created again, and
    what its connector publishes shows for every field not given)."""
    machine_id = str(body.machine_id)
    machines = services.machines
    if machines.get(machine_id) is not None:
        raise ConflictError(f"machine {machine_id}: exists; use PUT or PATCH to change it")
    connector = machines.table.connector_record(machine_id)
    body.refuse_unknown(primary_of(connector or MachineInfo(machine_id=machine_id)))
    await machines.write_overlay(_overlay(machine_id, body.stored_fields(), identity.principal))
    return await _answer(
        services, machine_id, status_code=201, Location=f"/api/machines/{machine_id}"
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
    services: ServicesDep,
) -> Response:
    """Replace every writable field; takes what GET returned (read-only fields ignored).
    A writable field not given shows the connector's value."""
    current = _existing(services.machines, machine_id)
    check_if_match(request, writable_view(current))
    if body.machine_id is not None and str(body.machine_id) != machine_id:
        raise InvalidInputError(
            f"machine_id: {body.machine_id!r} is not the path's {machine_id!r}; "
            "a machine's id cannot change (POST a new machine instead)"
        )
    body.refuse_unknown(primary_of(current))
    fields = body.stored_fields()
    await services.machines.write_overlay(_overlay(machine_id, fields, identity.principal))
    return await _answer(services, machine_id)


@router.patch("/machines/{machine_id}", response_model=MachineOut, responses=_WRITE)
async def update_machine(
    request: Request,
    machine_id: MachineIdPath,
    body: MachinePatch,
    identity: Engineer,
    services: ServicesDep,
) -> Response:
    """Change some fields; they keep their value when the machine's connector restarts."""
    machines = services.machines
    check_if_match(request, writable_view(_existing(machines, machine_id)))
    current = machines.table.overlay(machine_id)
    fields = dict(current.fields) if current is not None and not current.deleted else {}
    for name, value in body.changes().items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    await machines.write_overlay(_overlay(machine_id, fields, identity.principal))
    return await _answer(services, machine_id)


@router.delete("/machines/{machine_id}", status_code=204, responses=_WRITE)
async def delete_machine(
    request: Request, machine_id: MachineIdPath, identity: Engineer, machines: MachinesDep
) -> Response:
    """Remove a machine; it stays removed when its connector republishes it."""
    check_if_match(request, writable_view(_existing(machines, machine_id)))
    await machines.write_overlay(
        MachineOverlay(
            machine_id=machine_id,
            deleted=True,
            updated_by=identity.principal,
            updated_ts_ms=now_ms(),
        )
    )
    return Response(status_code=204)
