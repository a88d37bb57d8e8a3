"""The machine object's pure parts: the status rule, the shape rule, the PUT body's
read-only and unknown fields, and the maintenance table."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from api.errors import InvalidInputError
from api.machines.models import MachineFields, MachinePatch
from api.machines.views import LiveValues, machine_object, machine_status
from api.maintenance.store import MaintenanceTable
from contracts.alarm_state import AlarmStateRecord
from contracts.machines import MachineInfo, SensorInfo
from contracts.maintenance import MaintenanceSchedule

NOW_MS = 1_766_241_000_000
AFTER_MS = 60_000


def _alarm(rule: str = "high", sensor: str = "temperature_c") -> AlarmStateRecord:
    return AlarmStateRecord(
        alarm_id=f"42:{sensor}:{rule}",
        machine_id="42",
        sensor=sensor,
        rule=rule,
        severity="high",
        state="active_unacknowledged",
        active=True,
        value=91.0,
        threshold=85.0,
        updated_ts_ms=NOW_MS,
    )


def _live(age_ms: int = 1000, **values: float) -> LiveValues:
    return LiveValues(values=values, newest_ts_ms=NOW_MS - age_ms)


@pytest.mark.parametrize(
    ("live", "alarms", "expected"),
    [
        (_live(running=1.0), [], "running"),
        (_live(temperature_c=60.0), [], "running"),  # no running coil, fresh readings
        (_live(running=0.0), [], "stopped"),
        (_live(running=0.0), [_alarm()], "alarm"),
        (_live(running=1.0), [_alarm("comm_loss", "machine")], "offline"),
        (_live(age_ms=AFTER_MS + 1, running=1.0), [], "offline"),
        (_live(age_ms=AFTER_MS + 1, running=1.0), [_alarm()], "offline"),
        (LiveValues(values={}, newest_ts_ms=None), [], "offline"),
        (None, [_alarm()], "offline"),  # InfluxDB did not answer
    ],
)
def test_status_rule(
    live: LiveValues | None, alarms: list[AlarmStateRecord], expected: str
) -> None:
    assert machine_status(live, alarms, now_ms=NOW_MS, offline_after_ms=AFTER_MS) == expected


def test_primary_sensors_on_top_every_value_under_sensors_units_apart() -> None:
    info = MachineInfo(
        machine_id="42",
        name="CNC Lathe - Haas ST-20",
        sensors=(SensorInfo(name="temperature_c", unit="°C"),),
    )
    live = _live(temperature_c=67.5, vibration_mm_s=3.2)
    body = machine_object(
        info,
        live=live,
        alarms=[],
        last_maintenance=date(2025, 12, 15),
        status="running",
        readings_ts=None,
    )
    assert body["machine_id"] == 42
    assert (body["temperature_c"], body["spindle_rpm"]) == (67.5, None)
    assert body["sensors"] == {"temperature_c": 67.5, "vibration_mm_s": 3.2}
    assert body["sensor_info"] == {"temperature_c": {"unit": "°C"}}
    assert body["last_maintenance"] == "2025-12-15"


def test_put_body_keeps_only_the_given_writable_fields() -> None:
    body = MachineFields.model_validate(
        {"name": "n", "status": "running", "temperature_c": 1.0, "sensors": {"a": 1.0}}
    )
    body.refuse_unknown(("temperature_c", "spindle_rpm"))
    assert body.stored_fields() == {"name": "n"}
    with pytest.raises(InvalidInputError, match="temperature_c"):
        body.refuse_unknown(("power_kw",))


def test_sensor_metadata_is_stored_as_the_topic_keeps_it() -> None:
    body = MachineFields.model_validate({"sensor_info": {"power_kw": {"unit": "kW"}}})
    assert body.stored_fields() == {"sensors": [{"name": "power_kw", "unit": "kW"}]}
    assert MachinePatch.model_validate({"sensor_info": None}).changes() == {"sensors": None}


@pytest.mark.parametrize(
    "body",
    [
        {"sensors": [{"name": "temperature_c", "unit": "°C"}]},
        {"primary_sensors": ["alarms"]},
        {"primary_sensors": ["power_kw", "power_kw"]},
        {"primary_sensors": ["Power"]},
    ],
)
def test_bad_machine_fields_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MachineFields.model_validate(body)


def _schedule(schedule_id: str, **fields: object) -> MaintenanceSchedule:
    data: dict[str, object] = {
        "machine_id": "42",
        "schedule_id": schedule_id,
        "task": "oil",
        "due_date": "2026-01-15",
    }
    return MaintenanceSchedule.model_validate({**data, **fields})


def test_maintenance_table_latest_done_date_and_tombstones() -> None:
    table = MaintenanceTable()
    early = _schedule("a", done_at="2025-11-01", interval_days=30)
    late = _schedule("b", done_at="2025-12-15", due_date="2025-12-01")
    for record in (early, late, _schedule("c")):
        table.apply(record.key(), record.encode())
    assert table.last_done("42") == date(2025, 12, 15)
    assert [s.schedule_id for s in table.of_machine("42")] == ["a", "b", "c"]
    assert early.next_due() == date(2025, 12, 1)
    table.apply(late.key(), None)
    assert table.get("42", "b") is None
    assert table.last_done("42") == date(2025, 11, 1)
    table.apply(b"42/zz", _schedule("other").encode())  # the value names another key
    assert table.get("42", "zz") is None and table.get("42", "other") is None


def test_maintenance_dates_are_iso_dates_only() -> None:
    with pytest.raises(ValidationError):
        _schedule("a", due_date=1_765_790_000)
    with pytest.raises(ValidationError):
        _schedule("a", due_date="2025-13-01")
