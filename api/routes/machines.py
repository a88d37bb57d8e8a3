"""``GET /api/machines`` and ``GET /api/machines/{id}`` from the machine registry."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import MachinesDep, Principal
from api.errors import InvalidInputError, NotFoundError
from api.machines.registry import machine_view
from api.responses import OrjsonResponse, json_response
from contracts.errors import ContractError
from contracts.readings import normalize_machine_id

router = APIRouter(prefix="/api", tags=["machines"])


@router.get("/machines", response_class=OrjsonResponse)
async def list_machines(identity: Principal, machines: MachinesDep) -> OrjsonResponse:
    """Every registered machine, numeric ids in numeric order."""
    return json_response([machine_view(m) for m in machines.all()])


@router.get(
    "/machines/{machine_id}",
    response_class=OrjsonResponse,
    responses={404: {"description": "No machine with that id"}},
)
async def get_machine(
    machine_id: str, identity: Principal, machines: MachinesDep
) -> OrjsonResponse:
    try:
        normalized = normalize_machine_id(machine_id)
    except ContractError as exc:
        raise InvalidInputError(str(exc)) from exc
    info = machines.get(normalized)
    if info is None:
        raise NotFoundError(f"machine {machine_id}: not found")
    return json_response(machine_view(info))
