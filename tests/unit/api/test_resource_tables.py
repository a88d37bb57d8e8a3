"""The in-memory views of the compacted topics: thresholds precedence and merge patch, the
machines overlay, alarm filters, command results."""

from __future__ import annotations

from api.alarms.store import AlarmFilter, AlarmTable
from api.commands.tracker import CommandTable, make_command
from api.machines.overlay import MachineOverlay
from api.machines.registry import MachineTable
from api.thresholds.store import ThresholdsTable, merge_patch
from contracts.alarm_state import AlarmStateRecord
from contracts.commands import CommandResult
from contracts.machines import MachineInfo
from contracts.thresholds import Limit, SensorThresholds, thresholds_key


def test_merge_patch_merges_objects_and_null_removes() -> None:
    current = {"limits": {"high": {"value": 85, "deadband": 1}, "low": {"value": 5}}, "x": 1}
    patched = merge_patch(current, {"limits": {"high": {"value": 90}, "low": None}, "x": None})
    assert patched == {"limits": {"high": {"value": 90, "deadband": 1}}}
    assert current["limits"]["high"]["value"] == 85  # not changed in place


def test_thresholds_own_record_replaces_the_default_and_a_tombstone_restores_it() -> None:
    table = ThresholdsTable()
    [(default, source)] = table.for_machine("42").values()
    assert source == "default" and default.limits["high"].value == 85.0
    own = SensorThresholds(
        machine_id="42", sensor="temperature_c", limits={"high": Limit(value=90)}
    )
    table.apply(own.key(), own.encode())
    assert table.effective("42", "temperature_c") == (own, "machine")
    assert table.effective("43", "temperature_c") == (default, "default")
    table.apply(thresholds_key("42", "temperature_c"), None)
    assert table.effective("42", "temperature_c") == (default, "default")
    # a record whose value names another key is ignored
    table.apply(b"7/temperature_c", own.encode())
    assert table.own("7", "temperature_c") is None
    table.apply(thresholds_key("*", "temperature_c"), None)
    assert table.effective("42", "temperature_c") is None


def test_machine_overlay_wins_field_by_field_and_delete_hides_republished() -> None:
    table = MachineTable()
    base = MachineInfo(machine_id="42", name="lathe", location="bay 1", plant="north")
    table.apply(base.key(), base.encode())
    overlay = MachineOverlay(machine_id="42", fields={"location": "bay 9"})
    table.apply(overlay.key(), overlay.encode())
    table.apply(base.key(), base.model_copy(update={"name": "lathe v2"}).encode())
    shown = table.get("42")
    assert shown is not None
    assert (shown.name, shown.location, shown.plant) == ("lathe v2", "bay 9", "north")
    gone = MachineOverlay(machine_id="42", deleted=True)
    table.apply(gone.key(), gone.encode())
    table.apply(base.key(), base.encode())
    assert table.get("42") is None and table.all() == []
    only_api = MachineOverlay(machine_id="7", fields={"name": "press"})
    table.apply(only_api.key(), only_api.encode())
    assert [m.machine_id for m in table.all()] == ["7"]


def _state(machine: str, plant: str, state: str, severity: str, ts: int) -> AlarmStateRecord:
    return AlarmStateRecord.model_validate(
        {
            "alarm_id": f"{machine}:t:high",
            "machine_id": machine,
            "sensor": "t",
            "rule": "high",
            "plant": plant,
            "severity": severity,
            "state": state,
            "active": state.startswith("active"),
            "value": 1.0,
            "threshold": 0.0,
            "updated_ts_ms": ts,
        }
    )


def test_alarm_filter_and_order() -> None:
    table = AlarmTable()
    for record in (
        _state("a", "north", "active_unacknowledged", "high", 1),
        _state("b", "north", "normal", "low", 3),
        _state("c", "south", "active_unacknowledged", "critical", 2),
    ):
        table.apply(record.key(), record.encode())
    every = table.select(AlarmFilter(), limit=10)
    assert [a.machine_id for a in every] == ["b", "c", "a"]
    active = AlarmFilter(states=frozenset({"active_unacknowledged"}), plant="north")
    assert [a.machine_id for a in table.select(active, limit=10)] == ["a"]
    assert table.select(AlarmFilter(severities=frozenset({"critical"})), limit=10)[0].plant == (
        "south"
    )
    assert len(table.select(AlarmFilter(), limit=1)) == 1


def test_command_status_follows_its_result_and_old_commands_are_dropped() -> None:
    table = CommandTable(max_commands=2)
    first = make_command("42", "stop", by="key:k")
    table.apply_command(first.key(), first.encode())
    view = table.get(first.command_id)
    assert view is not None and view.status == "pending"
    wrong_machine = CommandResult(
        command_id=first.command_id, machine_id="43", status="succeeded", ts_ms=1
    )
    table.apply_result(wrong_machine.key(), wrong_machine.encode())
    view = table.get(first.command_id)
    assert view is not None and view.status == "pending"
    result = CommandResult(command_id=first.command_id, machine_id="42", status="refused", ts_ms=1)
    table.apply_result(result.key(), result.encode())
    view = table.get(first.command_id)
    assert view is not None and view.status == "refused"
    for _ in range(2):
        table.add_command(make_command("42", "start", by="key:k"))
    assert table.get(first.command_id) is None
