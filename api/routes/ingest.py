"""``POST /api/readings``: the SCADA ingest of the seed, produced to the readings topic."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import Engineer, MachinesDep, PublisherDep, SettingsDep
from api.flat import FlatLimits
from api.ingest import accepted_body, parse_readings_body, with_plants
from api.responses import OrjsonResponse, json_response
from contracts.patterns import MACHINE_ID_PATTERN, SENSOR_NAME_PATTERN
from contracts.timefmt import now_ms
from kafka_edge.records import Record

router = APIRouter(prefix="/api", tags=["readings"])


class AcceptedReading(BaseModel):
    machine_id: int | str
    ts: str


class AcceptedOut(BaseModel):
    """How many readings Kafka has, with each one's machine and time, in order."""

    accepted: int
    readings: list[AcceptedReading]


_READING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["machine_id"],
    "description": "Sensor values next to machine_id, named as sensor names are "
    f"({SENSOR_NAME_PATTERN}, none of the reserved names). Readings of one machine in one "
    "batch need distinct timestamps; one without a timestamp takes the receive time.",
    "properties": {
        "machine_id": {
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": MACHINE_ID_PATTERN},
            ]
        },
        "timestamp": {"type": "string", "format": "date-time"},
        "plant": {"type": "string", "maxLength": 128},
        "line": {"type": "string", "maxLength": 128},
        "sensors": {
            "type": "object",
            "additionalProperties": {"type": "number"},
            "propertyNames": {"pattern": SENSOR_NAME_PATTERN},
        },
    },
    "additionalProperties": {"type": "number"},
    "propertyNames": {"pattern": SENSOR_NAME_PATTERN},
}
_EXAMPLES: dict[str, Any] = {
    "seed": {
        "summary": "The integration guide's curl example",
        "value": {"machine_id": 42, "temperature_c": 67.5},
    },
    "batch": {
        "summary": "Two machines in one request",
        "value": [
            {"machine_id": 42, "temperature_c": 67.5, "sensors": {"power_kw": 12.7}},
            {"machine_id": "press-7", "pressure_bar": 4.8},
        ],
    },
}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _READING_SCHEMA,
                        {"type": "array", "items": _READING_SCHEMA, "minItems": 1},
                    ]
                },
                "examples": _EXAMPLES,
            }
        },
    }
}


@router.post(
    "/readings",
    status_code=201,
    response_class=OrjsonResponse,
    response_model=AcceptedOut,
    openapi_extra=_BODY,
    responses={
        400: {"description": "The body is not JSON"},
        422: {"description": "A reading breaks the contract; the detail names the field"},
        503: {"description": "Kafka did not acknowledge; retry after Retry-After seconds"},
    },
)
async def post_readings(
    request: Request,
    identity: Engineer,
    publisher: PublisherDep,
    settings: SettingsDep,
    machines: MachinesDep,
) -> OrjsonResponse:
    """One flat reading or an array of them; ``201`` once Kafka has acknowledged all."""
    readings = parse_readings_body(
        await request.body(),
        source=identity.source,
        received_ms=now_ms(),
        max_batch=settings.max_batch_readings,
        limits=FlatLimits(
            max_age_s=settings.reading_max_age_s,
            max_future_s=settings.reading_max_future_s,
            max_sensors=settings.reading_max_sensors,
            max_text=settings.reading_max_text,
        ),
    )
    readings = with_plants(readings, machines.stored_plant)
    await publisher.publish(
        settings.topics.readings, [Record(r.key(), r.encode()) for r in readings]
    )
    return json_response(accepted_body(readings), status_code=201)
