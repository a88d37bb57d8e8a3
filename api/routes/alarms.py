"""Alarms: current states from the alarm-state topic; acknowledge, shelve, unshelve and
log-by-hand produce an action to the alarm-actions topic (``202``: the pipeline applies it
and publishes the new state)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from fastapi.types import DecoratedCallable

from api.alarms.models import (
    AcknowledgeBody,
    ActionAccepted,
    AlarmView,
    LogAlarmBody,
    ShelveBody,
)
from api.alarms.store import AlarmFilter, AlarmStore, make_action
from api.deps import AlarmStoreDep, Engineer, Principal
from api.errors import InvalidInputError, NotFoundError
from api.flat import with_machine_id_json
from api.pathparams import AlarmIdPath, MachineIdPath
from api.queryparams import comma_choices
from api.responses import conditional_json, json_response
from contracts.alarm_actions import MANUAL_RULE, AlarmAction, parse_alarm_id
from contracts.alarm_state import AlarmStateRecord
from contracts.alarms import AlarmState, Severity, alarm_id
from contracts.errors import ContractError
from contracts.timefmt import datetime_ms, now_ms

router = APIRouter(prefix="/api", tags=["alarms"])

_STATES = frozenset(get_args(AlarmState))
_SEVERITIES = frozenset(get_args(Severity))
_ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No alarm with that id"},
    422: {"description": "A field is invalid; the detail names it"},
}
MAX_LIMIT = 10_000


def _views(records: list[AlarmStateRecord]) -> list[dict[str, Any]]:
    return [with_machine_id_json(r.model_dump(mode="json")) for r in records]


@router.get("/alarms", response_model=list[AlarmView])
async def list_alarms(
    request: Request,
    identity: Principal,
    store: AlarmStoreDep,
    state: Annotated[
        list[str] | None,
        Query(description=f"State(s), repeated or comma-separated: {', '.join(sorted(_STATES))}"),
    ] = None,
    severity: Annotated[
        list[str] | None, Query(description=f"Severity(ies): {', '.join(sorted(_SEVERITIES))}")
    ] = None,
    plant: Annotated[str | None, Query(max_length=128)] = None,
    machine_id: Annotated[str | None, Query(max_length=64)] = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
) -> Response:
    """Alarms matching every given filter, the most recently changed first."""
    where = AlarmFilter(
        states=comma_choices("state", state, _STATES),
        severities=comma_choices("severity", severity, _SEVERITIES),
        plant=plant,
        machine_id=machine_id,
        active=active,
    )
    return conditional_json(request, _views(store.table.select(where, limit=limit)))


@router.get("/machines/{machine_id}/alarms", response_model=list[AlarmView])
async def machine_alarms(
    request: Request,
    machine_id: MachineIdPath,
    identity: Principal,
    store: AlarmStoreDep,
    state: Annotated[list[str] | None, Query(description="State(s), as for /api/alarms")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
) -> Response:
    """One machine's alarms (every rule and sensor), the most recently changed first."""
    where = AlarmFilter(states=comma_choices("state", state, _STATES), machine_id=machine_id)
    return conditional_json(request, _views(store.table.select(where, limit=limit)))


@router.get(
    "/alarms/{alarm_id}",
    response_model=AlarmView,
    responses={404: _ACTION_ERRORS[404]},
)
async def get_alarm(
    request: Request, alarm_id: AlarmIdPath, identity: Principal, store: AlarmStoreDep
) -> Response:
    view = with_machine_id_json(_existing(store, alarm_id).model_dump(mode="json"))
    return conditional_json(request, view)


def _existing(store: AlarmStore, alarm_id: str) -> AlarmStateRecord:
    try:
        parse_alarm_id(alarm_id)
    except ContractError as exc:
        raise InvalidInputError(str(exc)) from exc
    record = store.table.get(alarm_id)
    if record is None:
        raise NotFoundError(f"alarm {alarm_id!r}: not found")
    return record


async def _submit(store: AlarmStore, action: AlarmAction) -> Response:
    await store.submit(action)
    accepted = ActionAccepted(
        action_id=action.action_id, action=action.action, alarm_id=action.alarm_id
    )
    return json_response(
        accepted.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/api/alarms/{action.alarm_id}"},
    )


def _action_route(kind: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``POST /alarms/{alarm_id}/<kind>``: an action on one alarm, 202 once Kafka has it."""
    return router.post(
        f"/alarms/{{alarm_id}}/{kind}",
        status_code=202,
        response_model=ActionAccepted,
        responses=_ACTION_ERRORS,
    )


def _commented_route(kind: Literal["acknowledge", "unshelve"], doc: str) -> None:
    """``POST /alarms/{alarm_id}/<kind>`` with an optional ``comment``."""

    async def route(
        alarm_id: AlarmIdPath,
        identity: Engineer,
        store: AlarmStoreDep,
        body: AcknowledgeBody | None = None,
    ) -> Response:
        record = _existing(store, alarm_id)
        comment = body.comment if body is not None else ""
        return await _submit(store, make_action(record, kind, identity.principal, comment=comment))

    route.__name__ = route.__qualname__ = f"{kind}_alarm"
    route.__doc__ = doc
    _action_route(kind)(route)


_commented_route("acknowledge", "Acknowledge an alarm (ISA-18.2): an operator has seen it.")


@_action_route("shelve")
async def shelve_alarm(
    alarm_id: AlarmIdPath, body: ShelveBody, identity: Engineer, store: AlarmStoreDep
) -> Response:
    """Suppress an alarm until ``until`` (or for ``duration_s``); it unshelves by itself."""
    record = _existing(store, alarm_id)
    now = now_ms()
    if body.until is not None:
        until_ms = datetime_ms(body.until)
        if until_ms <= now:
            raise InvalidInputError("until: must be in the future")
        if until_ms - now > 7 * 24 * 3600 * 1000:
            raise InvalidInputError("until: at most 7 days ahead")
    else:
        if body.duration_s is None:
            raise RuntimeError("expected body.duration_s is not None")
        until_ms = now + int(body.duration_s * 1000)
    action = make_action(
        record, "shelve", identity.principal, comment=body.comment, shelve_until_ts_ms=until_ms
    )
    return await _submit(store, action)


_commented_route("unshelve", "End a shelve early.")


@router.post(
    "/alarms",
    status_code=202,
    response_model=ActionAccepted,
    responses={422: _ACTION_ERRORS[422]},
)
async def log_alarm(body: LogAlarmBody, identity: Engineer, store: AlarmStoreDep) -> Response:
    """Log an alarm by hand (the seed's "Log a new alarm event"): raised under rule
    ``manual`` for the sensor; its id is ``<machine_id>:<sensor>:manual``."""
    action = AlarmAction(
        action_id=uuid.uuid4().hex,
        action="log",
        machine_id=body.machine_id,
        sensor=body.sensor,
        rule=MANUAL_RULE,
        by=identity.principal,
        ts_ms=now_ms(),
        comment=body.comment,
        severity=body.severity,
        message=body.message,
        value=body.value,
    )
    if action.alarm_id != alarm_id(body.machine_id, body.sensor, MANUAL_RULE):
        raise RuntimeError("a logged alarm's id is not the manual rule's id of its sensor")
    return await _submit(store, action)
