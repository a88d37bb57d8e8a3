"""Alarm thresholds per machine and sensor, on the compacted thresholds topic.

``PUT`` replaces, ``PATCH`` is a JSON merge patch over the rules in force (the machine's
own or the ``*`` default), ``DELETE`` drops the machine's own record (back to the
default). Writes answer once Kafka has the record; the pipeline applies it to the next
reading. ``If-Match`` with a GET's ``ETag`` makes a write conditional (``412`` if stale).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.deps import Engineer, Principal, ThresholdsStoreDep
from api.errors import InvalidInputError, NotFoundError, validation_detail
from api.flat import machine_id_json
from api.pathparams import SensorPath, ThresholdsMachinePath
from api.responses import check_if_match, conditional_json, versioned_json
from api.route_errors import STALE_VERSION, WRITE_ERRORS, Responses
from api.thresholds.models import (
    EffectiveThresholds,
    MachineThresholds,
    MachineThresholdsBody,
    MachineThresholdsPatch,
    ThresholdsBody,
)
from api.thresholds.store import ThresholdsStore, merge_patch
from contracts.thresholds import SensorThresholds
from contracts.timefmt import now_ms

router = APIRouter(prefix="/api/machines/{machine_id}/thresholds", tags=["thresholds"])

_NOT_FOUND: Responses = {404: {"description": "No rules for that sensor (neither own nor default)"}}


def machine_view(store: ThresholdsStore, machine_id: str) -> dict[str, Any]:
    shown = machine_id_json(machine_id)
    sensors = [
        {**record.model_dump(mode="json"), "machine_id": shown, "source": source}
        for record, source in store.table.for_machine(machine_id).values()
    ]
    return {"machine_id": shown, "sensors": sensors}


def sensor_view(store: ThresholdsStore, machine_id: str, sensor: str) -> dict[str, Any] | None:
    found = store.table.effective(machine_id, sensor)
    if found is None:
        return None
    record, source = found
    return {
        **record.model_dump(mode="json"),
        "machine_id": machine_id_json(machine_id),
        "source": source,
    }


def _record(machine_id: str, sensor: str, rules: dict[str, Any], by: str) -> SensorThresholds:
    data = {
        k: v for k, v in rules.items() if k not in ("machine_id", "sensor", "source", "updated_by")
    }
    data.pop("updated_ts_ms", None)
    try:
        return SensorThresholds.model_validate(
            {
                **data,
                "machine_id": machine_id,
                "sensor": sensor,
                "updated_by": by,
                "updated_ts_ms": now_ms(),
            }
        )
    except ValidationError as exc:
        raise InvalidInputError(validation_detail(exc.errors())) from exc


async def _write_machine(
    store: ThresholdsStore,
    machine_id: str,
    puts: list[SensorThresholds],
    deletes: list[tuple[str, str]],
) -> Response:
    """Write a machine's changed records; answer its rules in force with their new ETag."""
    await store.write_rules(puts, deletes)
    return versioned_json(machine_view(store, machine_id))


async def _write_sensor(
    store: ThresholdsStore, machine_id: str, sensor: str, rules: dict[str, Any], by: str
) -> Response:
    """Write ``rules`` as the machine's own record of one sensor; answer the sensor's rules
    in force with their new ETag."""
    await store.write_rules([_record(machine_id, sensor, rules, by)])
    return versioned_json(sensor_view(store, machine_id, sensor))


@router.get("", response_model=MachineThresholds)
async def get_machine_thresholds(
    request: Request,
    machine_id: ThresholdsMachinePath,
    identity: Principal,
    store: ThresholdsStoreDep,
) -> Response:
    """The rules in force for every sensor of a machine (its own, else the ``*`` default)."""
    return conditional_json(request, machine_view(store, machine_id))


@router.put("", response_model=MachineThresholds, responses=WRITE_ERRORS)
async def put_machine_thresholds(
    request: Request,
    machine_id: ThresholdsMachinePath,
    body: MachineThresholdsBody,
    identity: Engineer,
    store: ThresholdsStoreDep,
) -> Response:
    """Replace every own record of the machine; sensors not listed go back to the default."""
    check_if_match(request, machine_view(store, machine_id))
    puts = [
        _record(machine_id, sensor, rules.model_dump(), identity.principal)
        for sensor, rules in body.sensors.items()
    ]
    deletes = [
        (machine_id, s) for s in store.table.own_sensors(machine_id) if s not in body.sensors
    ]
    return await _write_machine(store, machine_id, puts, deletes)


@router.patch("", response_model=MachineThresholds, responses=WRITE_ERRORS)
async def patch_machine_thresholds(
    request: Request,
    machine_id: ThresholdsMachinePath,
    body: MachineThresholdsPatch,
    identity: Engineer,
    store: ThresholdsStoreDep,
) -> Response:
    """Merge-patch some sensors' rules; ``null`` for a sensor drops its own record."""
    check_if_match(request, machine_view(store, machine_id))
    puts, deletes = [], []
    for sensor, patch in body.sensors.items():
        if patch is None:
            deletes.append((machine_id, sensor))
            continue
        current = sensor_view(store, machine_id, sensor) or {}
        puts.append(_record(machine_id, sensor, merge_patch(current, patch), identity.principal))
    return await _write_machine(store, machine_id, puts, deletes)


@router.get("/{sensor}", response_model=EffectiveThresholds, responses=_NOT_FOUND)
async def get_sensor_thresholds(
    request: Request,
    machine_id: ThresholdsMachinePath,
    sensor: SensorPath,
    identity: Principal,
    store: ThresholdsStoreDep,
) -> Response:
    view = sensor_view(store, machine_id, sensor)
    if view is None:
        raise NotFoundError(f"thresholds {machine_id}/{sensor}: no rules for that sensor")
    return conditional_json(request, view)


@router.put("/{sensor}", response_model=EffectiveThresholds, responses=WRITE_ERRORS)
async def put_sensor_thresholds(
    request: Request,
    machine_id: ThresholdsMachinePath,
    sensor: SensorPath,
    body: ThresholdsBody,
    identity: Engineer,
    store: ThresholdsStoreDep,
) -> Response:
    """Replace the machine's own rules of one sensor."""
    check_if_match(request, sensor_view(store, machine_id, sensor))
    return await _write_sensor(store, machine_id, sensor, body.model_dump(), identity.principal)


@router.patch(
    "/{sensor}", response_model=EffectiveThresholds, responses={**WRITE_ERRORS, **_NOT_FOUND}
)
async def patch_sensor_thresholds(
    request: Request,
    machine_id: ThresholdsMachinePath,
    sensor: SensorPath,
    identity: Engineer,
    store: ThresholdsStoreDep,
    patch: Annotated[
        dict[str, Any],
        Body(
            description="JSON merge patch over the rules in force, "
            'e.g. {"limits": {"high": {"value": 90}}}',
            openapi_examples={
                "one limit": {"value": {"limits": {"high": {"value": 90}}}},
            },
        ),
    ],
) -> Response:
    """Change part of one sensor's rules (the seed's "change a single alarm threshold");
    the result becomes the machine's own record."""
    current = sensor_view(store, machine_id, sensor)
    check_if_match(request, current)
    rules = merge_patch(current or {}, patch)
    return await _write_sensor(store, machine_id, sensor, rules, identity.principal)


@router.delete("/{sensor}", status_code=204, responses=STALE_VERSION)
async def delete_sensor_thresholds(
    request: Request,
    machine_id: ThresholdsMachinePath,
    sensor: SensorPath,
    identity: Engineer,
    store: ThresholdsStoreDep,
) -> Response:
    """Drop the machine's own rules of one sensor: the default applies again."""
    check_if_match(request, sensor_view(store, machine_id, sensor))
    await store.write_rules([], [(machine_id, sensor)])
    return Response(status_code=204)
