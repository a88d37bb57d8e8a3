"""Parsing of the /live actions beyond the seed's: alarms with a cursor, aggregates, ack and
command; and the cursor's round trip."""

from __future__ import annotations

import pytest

from api.live.protocol import (
    Ack,
    Command,
    SubscribeAggregates,
    SubscribeAlarms,
    UnsubscribeAggregates,
    format_cursor,
    parse_action,
    parse_cursor,
    result_frame,
)
from contracts.errors import ContractError


def test_subscribe_alarms_with_and_without_plant_and_cursor() -> None:
    assert parse_action('{"action": "subscribe_alarms"}') == SubscribeAlarms(None, None)
    assert parse_action(
        '{"action": "subscribe_alarms", "plant": "north", "cursor": "0:12,2:7"}'
    ) == SubscribeAlarms("north", {0: 12, 2: 7})


def test_cursor_round_trips_sorted_by_partition() -> None:
    positions = {2: 7, 0: 12, 1: 0}
    assert format_cursor(positions) == "0:12,1:0,2:7"
    assert parse_cursor(format_cursor(positions)) == positions


@pytest.mark.parametrize("cursor", ["", "0", "0:", ":5", "a:1", "0:-1", "0:1\n", 5, "0:1;1:2"])
def test_malformed_cursors_are_named(cursor: object) -> None:
    with pytest.raises(ContractError, match=r"^cursor: "):
        parse_cursor(cursor)


def test_aggregates_ack_and_command() -> None:
    assert parse_action('{"action": "subscribe_aggregates", "machine_id": 42}') == (
        SubscribeAggregates("42")
    )
    assert parse_action('{"action": "unsubscribe_aggregates"}') == UnsubscribeAggregates(None)
    assert parse_action('{"action": "ack", "alarm_id": "42:t:high", "request_id": "r"}') == Ack(
        "42:t:high", "", "r"
    )
    assert parse_action(
        '{"action": "command", "machine_id": "m-1", "command": "setpoint",'
        ' "target": "rpm_setpoint", "value": 1200}'
    ) == Command("m-1", "setpoint", "rpm_setpoint", 1200.0, "", None)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ('{"action": "ack"}', "alarm_id"),
        ('{"action": "ack", "alarm_id": "x", "comment": 5}', "comment"),
        ('{"action": "command", "machine_id": 1, "command": "explode"}', "command"),
        ('{"action": "command", "machine_id": 1, "command": "stop", "value": true}', "value"),
        ('{"action": "command", "machine_id": 1, "command": "stop", "target": "Rpm"}', "target"),
        ('{"action": "command", "machine_id": "1\\n", "command": "stop"}', "machine_id"),
        ('{"action": "subscribe_aggregates", "machine_id": "42\\n"}', "machine_id"),
        ('{"action": "subscribe_alarms", "plant": 7}', "plant"),
    ],
)
def test_bad_actions_name_the_field(message: str, field: str) -> None:
    with pytest.raises(ContractError, match=field):
        parse_action(message)


def test_result_frame_ok_follows_the_status() -> None:
    assert result_frame("ack", "r", status=202)["ok"] is True
    assert result_frame("ack", None, status=403, detail="no")["ok"] is False
