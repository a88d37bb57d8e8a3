"""The tables of the compacted topics: a record is used only when its key parses and its
value decodes and names that key; a tombstone deletes."""

from __future__ import annotations

from datetime import date

from api.auth.roles import Role
from api.auth.users import UserIndex, UserRecord
from api.maintenance.store import MaintenanceTable
from contracts.maintenance import MaintenanceSchedule, maintenance_key


def _schedule(
    machine_id: str, schedule_id: str, done_at: date | None = None
) -> MaintenanceSchedule:
    return MaintenanceSchedule(
        machine_id=machine_id,
        schedule_id=schedule_id,
        task="Change spindle oil",
        due_date=date(2026, 1, 15),
        done_at=done_at,
    )


def test_maintenance_records_are_kept_by_machine_and_a_tombstone_deletes() -> None:
    table = MaintenanceTable()
    first = _schedule("42", "a1b2c3", done_at=date(2025, 12, 15))
    second = _schedule("42", "d4e5f6")
    table.apply(first.key(), first.encode())
    table.apply(second.key(), second.encode())

    assert table.get("42", "a1b2c3") == first
    assert table.last_done("42") == date(2025, 12, 15)

    table.apply(maintenance_key("42", "a1b2c3"), None)
    assert table.get("42", "a1b2c3") is None
    assert table.of_machine("42") == [second]
    table.apply(maintenance_key("42", "d4e5f6"), None)
    assert table.of_machine("42") == []


def test_maintenance_records_with_a_bad_key_or_another_schedule_are_ignored() -> None:
    table = MaintenanceTable()
    schedule = _schedule("42", "a1b2c3")

    table.apply(b"no-slash", schedule.encode())
    table.apply(maintenance_key("42", "ffffff"), schedule.encode())
    table.apply(None, schedule.encode())
    table.apply(schedule.key(), b"{not json")

    assert table.of_machine("42") == []


def test_users_table_applies_in_order_and_ignores_a_value_naming_another_user() -> None:
    alice = UserRecord(
        username="alice",
        user_id="u1",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        role=Role.operator,
        disabled=False,
        token_version=0,
        created="2026-01-01T00:00:00Z",
        updated="2026-01-01T00:00:00Z",
    )
    users = UserIndex()
    users.apply(b"bob", alice.encode())
    assert len(users) == 0

    users.apply(b"alice", alice.encode())
    assert users.get("alice") == alice
    users.apply(b"alice", None)
    assert users.records() == []
