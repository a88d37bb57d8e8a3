import base64

import orjson

from contracts.readings import Reading
from contracts.timefmt import parse_ts
from pipeline.storage.dead_letter import SourceRecord
from pipeline.storage.decoding import decode_records

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


def test_good_records_become_lines_in_order():
    records = [record(reading_bytes(t, i), offset=i) for i, t in enumerate([60.0, 61.5, 62.0])]
    plan = decode_records(records, now_ms=NOW)
    assert plan.reading_lines == [
        f"readings,machine_id=42 temperature_c={v} {T0 + i * 1000}"
        for i, v in enumerate(["60", "61.5", "62"])
    ]
    assert plan.sources == records
    assert plan.dead_letters == []
    assert [r.ts_ms for r in plan.readings] == [T0, T0 + 1000, T0 + 2000]


def test_malformed_record_is_dead_lettered_and_neighbours_survive():
    bad = b'{"machine_id": "42", "ts": "2025-12-20T14:30:00Z", "values": {"temperature_c": "hot"}}'
    records = [
        record(reading_bytes(60.0, 0), offset=10),
        record(bad, offset=11),
        record(b"\xff\xfenot json", offset=12),
        record(reading_bytes(61.0, 3), offset=13),
    ]
    plan = decode_records(records, now_ms=NOW)
    assert [s.offset for s in plan.sources] == [10, 13]
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
    plan = decode_records(records, now_ms=NOW)
    assert orjson.loads(plan.dead_letters[0].value)["reason"] == "ts: field required"


def test_null_value_is_dead_lettered():
    plan = decode_records([record(None, offset=5)], now_ms=NOW)
    body = orjson.loads(plan.dead_letters[0].value)
    assert body["reason"] == "value: missing (null record)"
    assert body["value_base64"] is None
    assert body["value_text"] is None


def test_record_that_breaks_the_decoder_unexpectedly_is_dead_lettered():
    odd = (
        b'{"machine_id": "42", "ts": "2025-12-20T14:30:00Z", "values": {"temperature_c": 1.0},'
        b' "quality": {"temperature_c": ["good"]}}'
    )
    records = [record(odd, offset=0), record(reading_bytes(60.0, 1), offset=1)]
    plan = decode_records(records, now_ms=NOW)
    assert [s.offset for s in plan.sources] == [1]
    body = orjson.loads(plan.dead_letters[0].value)
    # Either the contract names the field, or the pipeline says the decoder broke.
    assert "quality" in body["reason"] or body["reason"].startswith("reading: cannot be decoded")
    assert body["source"]["offset"] == 0


def test_reading_with_invalid_texts_is_dead_lettered_naming_the_field():
    bad = orjson.dumps(
        {
            "machine_id": "42",
            "ts": "2025-12-20T14:30:00Z",
            "values": {"temperature_c": 1.0},
            "texts": {"recipe": "a\nb"},
        }
    )
    good_text = Reading(
        machine_id="42", ts_ms=T0, values={"temperature_c": 2.0}, texts={"recipe": "PA6"}
    ).encode()
    records = [
        record(reading_bytes(60.0, 0), offset=0),
        record(bad, offset=1),
        record(good_text, offset=2),
    ]
    plan = decode_records(records, now_ms=NOW)
    assert [s.offset for s in plan.sources] == [0, 2]
    reason = orjson.loads(plan.dead_letters[0].value)["reason"]
    assert reason.startswith("texts.recipe: must be printable")
    assert plan.reading_lines[1] == f'readings,machine_id=42 temperature_c=2,recipe="PA6" {T0}'
