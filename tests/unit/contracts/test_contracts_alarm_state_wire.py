"""The alarm state's wire format, pinned: the record on the alarm-state topic (bytes, key
order included), its JSON schema and the API's ``AlarmView`` in OpenAPI (key order
included), and the machine state the worker keeps in its alarm-state table.

``alarm_state_golden.json`` holds what they were; a change here changes what consumers read.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from alarmrules.state import AlarmEntry, MachineState, Pending
from api.app import create_app
from api.settings import ApiSettings
from contracts.alarm_state import AlarmStateRecord, decode_alarm_state
from contracts.errors import ContractError

GOLDEN: dict[str, Any] = json.loads((Path(__file__).parent / "alarm_state_golden.json").read_text())
T = 1_766_241_000_000


def _machine() -> MachineState:
    """A machine with one acknowledged alarm whose clear waits for its off-delay."""
    state = MachineState.from_dict("42", GOLDEN["machine_state"])
    entry = state.alarms["temperature_c:high"]
    assert entry.pending == Pending("clear", T + 400, T + 2400, 84.0, "back")
    return state


def test_the_record_on_the_topic_is_byte_for_byte_the_same() -> None:
    state = _machine()
    record = state.record(state.alarms["temperature_c:high"])
    assert record.encode().decode() == GOLDEN["alarm_state_record"]
    assert decode_alarm_state(record.encode()) == record


def test_the_machine_state_in_the_table_is_the_same() -> None:
    assert _machine().to_dict() == GOLDEN["machine_state"]


def test_the_record_schema_is_the_same_key_for_key() -> None:
    pinned = GOLDEN["alarm_state_record_schema"]
    assert json.dumps(AlarmStateRecord.model_json_schema()) == json.dumps(pinned)


def test_openapi_shows_the_same_alarm_view_key_for_key() -> None:
    schema = create_app(ApiSettings()).openapi()["components"]["schemas"]["AlarmView"]
    assert json.dumps(schema) == json.dumps(GOLDEN["openapi_alarm_view"])


def test_the_record_checks_the_alarm_fields_as_declared() -> None:
    """The constraints of :class:`AlarmFields` hold on the record built from them."""
    raw = json.loads(GOLDEN["alarm_state_record"])
    with pytest.raises(ContractError, match="comment"):
        decode_alarm_state(json.dumps({**raw, "comment": "x" * 501}).encode())
    with pytest.raises(ContractError, match="updated_ts_ms: Field required"):
        decode_alarm_state(
            json.dumps({k: v for k, v in raw.items() if k != "updated_ts_ms"}).encode()
        )
    with pytest.raises(ContractError, match="state"):
        decode_alarm_state(json.dumps({**raw, "state": "sleeping"}).encode())


def test_an_entry_is_stored_as_asdict_stores_it() -> None:
    entry = _machine().alarms["temperature_c:high"]
    fresh = AlarmEntry.new("pressure_bar", "low", severity="medium", threshold=1.5)
    for one in (entry, fresh):
        assert one.to_dict() == asdict(one)
        assert list(one.to_dict()) == list(asdict(one))
        assert AlarmEntry.from_dict(one.to_dict()) == one
