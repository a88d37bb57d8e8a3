import base64

import orjson

from contracts.readings import Reading
from contracts.timefmt import parse_ts
from pipeline.alarm_rules import HighLimitRule
from pipeline.batch import plan_batch
from pipeline.dead_letter import SourceRecord

RULES = (HighLimitRule(sensor="temperature_c", limit=85.0, deadband=1.0),)
T0 = 1_766_241_000_000
NOW = 1_766_241_999_000


def record(value, *, offset, key=b"42", partition=2):
    return SourceRecord(
        key=key,
        value=value,
        topic="ms.readings",
        partition=partition,
        offset=offset,
        timestamp_ms=T0 + offset,
    )


def reading_bytes(temperature, i, machine="42"):
    return Reading(
        machine_id=machine, ts_ms=T0 + i * 1000, values={"temperature_c": temperature}
    ).encode()


def no_state(machine_id):
    return None


def test_good_records_become_lines_in_order():
    records = [record(reading_bytes(t, i), offset=i) for i, t in enumerate([60.0, 61.5, 62.0])]
    plan = plan_batch(records, rules=RULES, load_state=no_state, now_ms=NOW)
    assert plan.reading_lines == [
        f"readings,machine_id=42 temperature_c={v} {T0 + i * 1000}"
        for i, v in enumerate(["60", "61.5", "62"])
    ]
    assert plan.reading_sources == records
    assert plan.dead_letters == []
    assert plan.alarm_events == []
    assert plan.states == {}


def test_malformed_record_is_dead_lettered_and_neighbours_survive():
    bad = b'{"machine_id": "42", "ts": "2025-12-20T14:30:00Z", "values": {"temperature_c": "hot"}}'
    records = [
        record(reading_bytes(60.0, 0), offset=10),
        record(bad, offset=11),
        record(b"\xff\xfenot json", offset=12),
        record(reading_bytes(61.0, 3), offset=13),
    ]
    plan = plan_batch(records, rules=RULES, load_state=no_state, now_ms=NOW)
    assert [s.offset for s in plan.reading_sources] == [10, 13]
    assert len(plan.dead_letters) == 2

    first, second = (orjson.loads(d.value) for d in plan.dead_letters)
    assert plan.dead_letters[0].key == b"42"
    assert first["reason"] == "temperature_c: sensor value must be a number, got str"
    assert first["stage"] == "decode"
    assert first["source"] == {
        "topic": "ms.readings",
        "partition": 2,
        "offset": 11,
        "timestamp_ms": T0 + 11,
    }
    assert base64.b64decode(first["value_base64"]) == bad
    assert first["value_text"] == bad.decode()
    assert parse_ts(first["failed_at"]) == NOW

    assert second["reason"].startswith("reading: not valid JSON")
    assert second["source"]["offset"] == 12
    assert second["value_text"] is None
    assert base64.b64decode(second["value_base64"]) == b"\xff\xfenot json"


def test_missing_field_reason_names_the_field():
    records = [record(b'{"machine_id": "42", "values": {"temperature_c": 1.0}}', offset=0)]
    plan = plan_batch(records, rules=RULES, load_state=no_state, now_ms=NOW)
    assert orjson.loads(plan.dead_letters[0].value)["reason"] == "ts: field required"


def test_null_value_is_dead_lettered():
    plan = plan_batch([record(None, offset=5)], rules=RULES, load_state=no_state, now_ms=NOW)
    body = orjson.loads(plan.dead_letters[0].value)
    assert body["reason"] == "value: missing (null record)"
    assert body["value_base64"] is None
    assert body["value_text"] is None


def test_state_threads_through_a_batch_and_is_loaded_once_per_machine():
    loads = []

    def load(machine_id):
        loads.append(machine_id)

    temps = [84.9, 85.1, 84.8, 85.2, 84.5, 85.3]
    records = [record(reading_bytes(t, i), offset=i) for i, t in enumerate(temps)]
    records.append(record(reading_bytes(99.0, 0, machine="7"), key=b"7", offset=50))
    plan = plan_batch(records, rules=RULES, load_state=load, now_ms=NOW)
    assert loads == ["42", "7"]
    assert [(e.machine_id, e.event, e.value) for e in plan.alarm_events] == [
        ("42", "raised", 85.1),
        ("7", "raised", 99.0),
    ]
    assert set(plan.states) == {"42", "7"}
    assert plan.states["42"]["temperature_c:high"]["state"] == "active_unacknowledged"
    assert len(plan.alarm_lines) == 2
    assert plan.alarm_lines[0].startswith("alarms,machine_id=42,rule=high,")


def test_stored_state_suppresses_a_duplicate_raise_across_batches():
    store = {}
    first = plan_batch(
        [record(reading_bytes(90.0, 0), offset=0)], rules=RULES, load_state=store.get, now_ms=NOW
    )
    store.update(first.states)
    second = plan_batch(
        [record(reading_bytes(91.0, 1), offset=1)], rules=RULES, load_state=store.get, now_ms=NOW
    )
    assert [e.event for e in first.alarm_events] == ["raised"]
    assert second.alarm_events == []
    assert second.states == {}


def test_replayed_batch_over_kept_state_emits_no_alarm_twice():
    store = {}
    records = [record(reading_bytes(t, i), offset=i) for i, t in enumerate([70.0, 90.0, 80.0])]
    first = plan_batch(records, rules=RULES, load_state=store.get, now_ms=NOW)
    store.update(first.states)
    replay = plan_batch(records, rules=RULES, load_state=store.get, now_ms=NOW)
    assert [e.event for e in first.alarm_events] == ["raised", "cleared"]
    assert replay.alarm_events == []
    assert replay.reading_lines == first.reading_lines


def test_record_that_breaks_the_decoder_unexpectedly_is_dead_lettered():
    odd = (
        b'{"machine_id": "42", "ts": "2025-12-20T14:30:00Z", "values": {"temperature_c": 1.0},'
        b' "quality": {"temperature_c": ["good"]}}'
    )
    records = [record(odd, offset=0), record(reading_bytes(60.0, 1), offset=1)]
    plan = plan_batch(records, rules=RULES, load_state=no_state, now_ms=NOW)
    assert [s.offset for s in plan.reading_sources] == [1]
    body = orjson.loads(plan.dead_letters[0].value)
    # Either the contract names the field, or the pipeline says the decoder broke.
    assert "quality" in body["reason"] or body["reason"].startswith("reading: cannot be decoded")
    assert body["source"]["offset"] == 0
