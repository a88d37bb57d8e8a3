"""The cross-component records of contracts/: round trips and the errors they name."""

from __future__ import annotations

import re
from dataclasses import fields, replace

import orjson
import pytest

from contracts.aggregates import SensorStats, WindowAggregate, decode_aggregate, window_label
from contracts.alarm_actions import AlarmAction, decode_alarm_action, parse_alarm_id
from contracts.alarm_state import AlarmStateRecord, decode_alarm_state
from contracts.alarms import AlarmEvent, decode_alarm
from contracts.audit import AuditEntry, AuditRecord, decode_audit
from contracts.commands import Command, CommandResult, decode_command, decode_command_result
from contracts.errors import ContractError
from contracts.influx_schema import audit_time_ns
from contracts.patterns import check_machine_id, is_machine_id, is_sensor_name
from contracts.readings import normalize_machine_id
from contracts.thresholds import (
    Limit,
    SensorThresholds,
    decode_thresholds,
    default_thresholds,
    parse_thresholds_key,
)
from contracts.topics import TopicNames, topic_specs


@pytest.mark.parametrize("text", ["42\n", "42\r\n", "", "-42", "a" * 65, "4 2"])
def test_machine_ids_are_matched_whole(text: str) -> None:
    assert not is_machine_id(text)
    with pytest.raises(ContractError, match="machine_id"):
        check_machine_id(text)
    with pytest.raises(ContractError, match="machine_id"):
        normalize_machine_id(text)


@pytest.mark.parametrize(("raw", "text"), [(42, "42"), (42.0, "42"), (1e3, "1000"), ("42", "42")])
def test_integer_machine_ids_are_text(raw: object, text: str) -> None:
    assert normalize_machine_id(raw) == text


@pytest.mark.parametrize("raw", [42.5, float(2**70), True, None, [42]])
def test_other_machine_ids_are_refused_naming_the_value(raw: object) -> None:
    with pytest.raises(ContractError, match=re.escape(f"got {raw!r}")):
        normalize_machine_id(raw)


@pytest.mark.parametrize("text", ["temperature_c\n", "Temperature", "1c", "t-c", "t" * 65])
def test_sensor_names_are_matched_whole(text: str) -> None:
    assert not is_sensor_name(text)


def test_valid_names_pass() -> None:
    assert is_machine_id("42") and is_machine_id("plant-a:press.7")
    assert is_sensor_name("temperature_c")


def test_thresholds_round_trip_and_key() -> None:
    rec = SensorThresholds(
        machine_id="42",
        sensor="temperature_c",
        limits={"high": Limit(value=85, deadband=1), "high_high": Limit(value=95)},
        stale_after_s=30,
    )
    assert decode_thresholds(rec.encode()) == rec
    assert parse_thresholds_key(rec.key()) == ("42", "temperature_c")


def test_thresholds_refuse_disordered_limits() -> None:
    limits = {"high": {"value": 50}, "low": {"value": 60}}
    bad = {"machine_id": "42", "sensor": "t_c", "limits": limits}
    with pytest.raises(ContractError, match=r"high \(50.0\) must not be below low"):
        decode_thresholds(orjson.dumps(bad))


def test_thresholds_name_the_bad_field() -> None:
    bad = {"machine_id": "42\n", "sensor": "t_c"}
    with pytest.raises(ContractError, match="machine_id"):
        decode_thresholds(orjson.dumps(bad))
    bad = {"machine_id": "42", "sensor": "t_c", "limits": {"high": {"value": "hot"}}}
    with pytest.raises(ContractError, match=r"limits\.high\.value"):
        decode_thresholds(orjson.dumps(bad))


def test_default_rule_is_the_seeds() -> None:
    (rule,) = default_thresholds()
    assert (rule.machine_id, rule.sensor) == ("*", "temperature_c")
    assert rule.limits["high"].value == 85 and rule.limits["high"].severity == "high"


def test_alarm_action_round_trip_and_rules() -> None:
    action = AlarmAction(
        action_id="a1",
        action="shelve",
        machine_id="42",
        sensor="temperature_c",
        rule="high",
        by="user:ana",
        ts_ms=1,
        shelve_until_ts_ms=2,
        comment="maintenance",
    )
    assert decode_alarm_action(action.encode()) == action
    assert action.alarm_id == "42:temperature_c:high"
    assert action.key() == b"42"
    raw = action.model_dump() | {"shelve_until_ts_ms": None}
    with pytest.raises(ContractError, match="shelve_until_ts_ms"):
        decode_alarm_action(orjson.dumps(raw))
    raw = action.model_dump() | {"action": "log"}
    with pytest.raises(ContractError, match="manual"):
        decode_alarm_action(orjson.dumps(raw))


def test_alarm_ids_parse_from_the_right() -> None:
    assert parse_alarm_id("plant:7:temperature_c:high") == ("plant:7", "temperature_c", "high")
    with pytest.raises(ContractError):
        parse_alarm_id("nohigh")


def test_alarm_state_round_trip() -> None:
    rec = AlarmStateRecord(
        alarm_id="42:temperature_c:high",
        machine_id="42",
        sensor="temperature_c",
        rule="high",
        severity="high",
        state="active_unacknowledged",
        active=True,
        value=90,
        threshold=85,
        raised_ts_ms=5,
        updated_ts_ms=5,
    )
    assert decode_alarm_state(rec.encode()) == rec


def test_alarm_event_keeps_old_records_readable() -> None:
    event = AlarmEvent(
        alarm_id="42:t_c:high",
        event="raised",
        state="active_unacknowledged",
        machine_id="42",
        sensor="t_c",
        rule="high",
        severity="high",
        value=90,
        threshold=85,
        ts_ms=0,
        message="m",
        plant="p1",
        seq=3,
    )
    assert decode_alarm(event.encode()) == event
    old = event.to_dict()
    for key in ("plant", "line", "by", "comment", "seq"):
        del old[key]
    assert decode_alarm(orjson.dumps(old)).plant == ""


def test_commands_validate_setpoints() -> None:
    cmd = Command(
        command_id="c1",
        machine_id="42",
        action="setpoint",
        target="spindle_rpm_setpoint",
        value=1200,
        requested_by="user:eng",
        ts_ms=1,
    )
    assert decode_command(cmd.encode()) == cmd
    with pytest.raises(ContractError, match="setpoint"):
        decode_command(orjson.dumps(cmd.model_dump() | {"value": None}))
    with pytest.raises(ContractError, match="stop"):
        decode_command(orjson.dumps(cmd.model_dump() | {"action": "stop"}))
    result = CommandResult(command_id="c1", machine_id="42", status="refused", reason="no", ts_ms=2)
    assert decode_command_result(result.encode()) == result


def test_aggregates_round_trip_and_labels() -> None:
    agg = WindowAggregate(
        machine_id="42",
        window=window_label(60),
        start_ms=60_000,
        end_ms=120_000,
        sensors={"temperature_c": SensorStats(3, 1.0, 3.0, 2.0, 3.0, 0.8165)},
        plant="p",
    )
    assert decode_aggregate(agg.encode()) == agg
    assert "sum" not in agg.to_dict()["sensors"]["temperature_c"]  # as older workers sent
    assert agg.sensors["temperature_c"].total == 6.0
    summed = replace(agg, sensors={"temperature_c": SensorStats(3, 1.0, 3.0, 2.0, 3.0, 0.8, 6.5)})
    assert decode_aggregate(summed.encode()).sensors["temperature_c"].total == 6.5
    assert window_label(300, 60) == "5m_1m"
    assert window_label(3600) == "1h" and window_label(90) == "90s"
    with pytest.raises(ContractError, match="count"):
        bad = agg.to_dict()
        bad["sensors"]["temperature_c"]["count"] = 0
        decode_aggregate(orjson.dumps(bad))


def test_audit_round_trip_and_point_time() -> None:
    request = {"request_id": "r1", "principal": "key:abc", "role": "admin", "method": "GET"}
    request |= {"path": "/api/audit", "status": 200, "latency_ms": 1.5, "client": "127.0.0.1"}
    rec = AuditRecord(**request, ts_ms=1000)
    assert decode_audit(rec.encode()) == rec
    assert audit_time_ns(1000, "r1") // 1_000_000 == 1000
    assert audit_time_ns(1000, "r1") != audit_time_ns(1000, "r2")
    with pytest.raises(ContractError, match="status"):
        decode_audit(orjson.dumps(rec.to_dict() | {"status": "ok"}))
    entry = AuditEntry(**request, time="1970-01-01T00:00:01.000Z")
    assert {f.name for f in fields(entry)} - {"time"} == set(request)


def test_new_topics_exist_with_their_shapes() -> None:
    names = TopicNames.with_prefix("m")
    specs = {s.name: s for s in topic_specs(names, stream_partitions=6)}
    assert specs["m.alarm-actions"].partitions == specs["m.readings"].partitions
    assert specs["m.users"].compacted and specs["m.users"].partitions == 1
