"""Maintenance schedules of a machine: engineers write, operators read.

Kept on the compacted maintenance topic (:mod:`contracts.maintenance`); every GET carries
an ``ETag`` (``If-None-Match`` -> ``304``), ``If-Match`` makes a write conditional.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth.roles import Identity
from api.deps import Engineer, MachinesDep, MaintenanceDep, Principal
from api.errors import InvalidInputError, NotFoundError
from api.machines.registry import MachineRegistry
from api.maintenance.models import ScheduleFields, ScheduleOut, SchedulePatch, schedule_view
from api.maintenance.store import MaintenanceStore
from api.pathparams import MachineIdPath
from api.responses import check_if_match, conditional_json, versioned_json
from api.route_errors import WRITE_ERRORS, Responses
from contracts.codec import validate_model
from contracts.errors import ContractError
from contracts.maintenance import MaintenanceSchedule, ScheduleId
from contracts.timefmt import now_ms

router = APIRouter(prefix="/api", tags=["maintenance"])

_PATH = "/machines/{machine_id}/maintenance"
_ONE = _PATH + "/{schedule_id}"
_NOT_FOUND: Responses = {404: {"description": "No such machine or schedule"}}
_WRITE: Responses = {**_NOT_FOUND, **WRITE_ERRORS}


def _machine(machines: MachineRegistry, machine_id: str) -> None:
    if machines.get(machine_id) is None:
        raise NotFoundError(f"machine {machine_id}: not found")


def _existing(
    machines: MachineRegistry, store: MaintenanceStore, machine_id: str, schedule_id: str
) -> MaintenanceSchedule:
    _machine(machines, machine_id)
    schedule = store.table.get(machine_id, schedule_id)
    if schedule is None:
        raise NotFoundError(f"machine {machine_id}: no maintenance schedule {schedule_id}")
    return schedule


def _current(
    request: Request,
    machines: MachineRegistry,
    store: MaintenanceStore,
    machine_id: str,
    schedule_id: str,
) -> MaintenanceSchedule:
    """The schedule a write changes, if ``If-Match`` (when sent) names its version."""
    current = _existing(machines, store, machine_id, schedule_id)
    check_if_match(request, schedule_view(current))
    return current


def _schedule(
    machine_id: str, schedule_id: str, fields: dict[str, Any], identity: Identity
) -> MaintenanceSchedule:
    if fields.get("done_at") and not fields.get("done_by"):
        fields["done_by"] = identity.name
    data = {**fields, "machine_id": machine_id, "schedule_id": schedule_id}
    data.update(updated_by=identity.principal, updated_ts_ms=now_ms())
    try:
        return validate_model(MaintenanceSchedule, data, "maintenance schedule")
    except ContractError as exc:
        raise InvalidInputError(str(exc)) from exc


def _writable(body: ScheduleFields) -> dict[str, Any]:
    return body.model_dump(
        mode="json", exclude={"schedule_id", "machine_id", "next_due", "updated_by", "updated"}
    )


@router.get(_PATH, response_model=list[ScheduleOut], responses=_NOT_FOUND)
async def list_schedules(
    request: Request,
    machine_id: MachineIdPath,
    identity: Principal,
    machines: MachinesDep,
    store: MaintenanceDep,
) -> Response:
    """The machine's maintenance schedules, the soonest due first."""
    _machine(machines, machine_id)
    return conditional_json(request, [schedule_view(s) for s in store.table.of_machine(machine_id)])


@router.post(_PATH, status_code=201, response_model=ScheduleOut, responses=_WRITE)
async def create_schedule(
    machine_id: MachineIdPath,
    body: ScheduleFields,
    identity: Engineer,
    machines: MachinesDep,
    store: MaintenanceDep,
) -> Response:
    """Add a schedule; its id is made here and given in ``Location``."""
    _machine(machines, machine_id)
    schedule = _schedule(machine_id, secrets.token_hex(6), _writable(body), identity)
    await store.put(schedule)
    return versioned_json(
        schedule_view(schedule),
        status_code=201,
        headers={"Location": f"/api/machines/{machine_id}/maintenance/{schedule.schedule_id}"},
    )


@router.get(_ONE, response_model=ScheduleOut, responses=_NOT_FOUND)
async def get_schedule(
    request: Request,
    machine_id: MachineIdPath,
    schedule_id: ScheduleId,
    identity: Principal,
    machines: MachinesDep,
    store: MaintenanceDep,
) -> Response:
    schedule = _existing(machines, store, machine_id, schedule_id)
    return conditional_json(request, schedule_view(schedule))


def _same_ids(body: ScheduleFields, machine_id: str, schedule_id: str) -> None:
    if body.schedule_id is not None and body.schedule_id != schedule_id:
        raise InvalidInputError(
            f"schedule_id: {body.schedule_id!r} is not the path's {schedule_id!r}; "
            "an id cannot change"
        )
    if body.machine_id is not None and str(body.machine_id) != machine_id:
        raise InvalidInputError(
            f"machine_id: {body.machine_id!r} is not the path's {machine_id!r}; "
            "a schedule cannot move to another machine"
        )


@router.put(_ONE, response_model=ScheduleOut, responses=_WRITE)
async def replace_schedule(
    request: Request,
    machine_id: MachineIdPath,
    schedule_id: ScheduleId,
    body: ScheduleFields,
    identity: Engineer,
    machines: MachinesDep,
    store: MaintenanceDep,
) -> Response:
    """Replace every writable field (what GET returned is accepted as it is)."""
    _current(request, machines, store, machine_id, schedule_id)
    _same_ids(body, machine_id, schedule_id)
    schedule = _schedule(machine_id, schedule_id, _writable(body), identity)
    await store.put(schedule)
    return versioned_json(schedule_view(schedule))


@router.patch(_ONE, response_model=ScheduleOut, responses=_WRITE)
async def update_schedule(
    request: Request,
    machine_id: MachineIdPath,
    schedule_id: ScheduleId,
    body: SchedulePatch,
    identity: Engineer,
    machines: MachinesDep,
    store: MaintenanceDep,
) -> Response:
    """Change some fields, e.g. ``{"done_at": "2025-12-15"}`` once the task is done."""
    current = _current(request, machines, store, machine_id, schedule_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    for name in ("task", "due_date"):
        if name in changes and changes[name] is None:
            raise InvalidInputError(f"{name}: required; it cannot be cleared")
    if "done_by" in changes and changes["done_by"] is None:
        changes["done_by"] = ""
    fields = current.model_dump(mode="json", include=set(ScheduleFields.model_fields))
    fields.update(changes)
    if "done_at" in changes and "done_by" not in changes:
        fields["done_by"] = ""
    schedule = _schedule(machine_id, schedule_id, fields, identity)
    await store.put(schedule)
    return versioned_json(schedule_view(schedule))


@router.delete(_ONE, status_code=204, responses=_WRITE)
async def delete_schedule(
    request: Request,
    machine_id: MachineIdPath,
    schedule_id: ScheduleId,
    identity: Engineer,
    machines: MachinesDep,
    store: MaintenanceDep,
) -> Response:
    """Remove a schedule; it is ``404`` afterwards."""
    _current(request, machines, store, machine_id, schedule_id)
    await store.delete(machine_id, schedule_id)
    return Response(status_code=204)
