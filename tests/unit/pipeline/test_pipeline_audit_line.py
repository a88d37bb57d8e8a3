import orjson
from influxdb_client import Point, WritePrecision

from contracts.audit import AuditEntry, AuditRecord, audit_entry, audit_line
from contracts.influx_schema import audit_time_ns
from pipeline.storage.audit_rows import audit_record_line
from pipeline.storage.dead_letter import SourceRecord
from pipeline.storage.rows_loop import decode_rows

RECORD = AuditRecord(
    request_id="req-1",
    ts_ms=1_766_241_000_123,
    principal="key:abc",
    role="operator",
    method="GET",
    path='/api/machines/"42"',
    status=200,
    latency_ms=1.5,
    client="127.0.0.1",
)


def test_audit_line_has_the_schema_tags_fields_and_ns_time():
    line = audit_line(RECORD)
    assert line == (
        "audit,method=GET,principal=key:abc,status=200 "
        'client="127.0.0.1",latency_ms=1.5,path="/api/machines/\\"42\\"",request_id="req-1",'
        f'role="operator" {audit_time_ns(RECORD.ts_ms, "req-1")}'
    )


def test_bad_audit_record_is_dead_lettered_naming_the_field_and_neighbours_survive():
    good = SourceRecord(key=b"key:abc", value=RECORD.encode(), topic="a", partition=0, offset=1)
    body = RECORD.to_dict()
    del body["status"]
    bad = SourceRecord(key=b"key:abc", value=orjson.dumps(body), topic="a", partition=0, offset=2)
    lines, sources, dead = decode_rows(
        [good, bad, good], audit_record_line, stage="audit", now_ms=0
    )
    assert len(lines) == 2 and sources == [good, good]
    reason = orjson.loads(dead[0].value)
    assert reason["reason"] == "status: field required"
    assert reason["stage"] == "audit"
    assert reason["source"]["offset"] == 2


def test_the_one_audit_point_is_the_one_influxdb_clients_point_writes():
    """The API and the pipeline both write audit_line's point; it is the point
    ``influxdb_client.Point`` builds from the same record, to the byte."""
    reference = (
        Point("audit")
        .tag("principal", RECORD.principal)
        .tag("method", RECORD.method)
        .tag("status", str(RECORD.status))
        .field("path", RECORD.path)
        .field("role", RECORD.role)
        .field("latency_ms", float(RECORD.latency_ms))
        .field("client", RECORD.client)
        .field("request_id", RECORD.request_id)
        .time(audit_time_ns(RECORD.ts_ms, RECORD.request_id), WritePrecision.NS)
    )
    assert audit_line(RECORD) == reference.to_line_protocol()


def test_bad_alarm_event_is_dead_lettered_under_the_alarms_stage():
    from contracts.alarms import AlarmEvent
    from pipeline.storage.line_protocol import alarm_event_line, alarm_line

    event = AlarmEvent(
        alarm_id="42:temperature_c:high",
        event="raised",
        state="active_unacked",
        machine_id="42",
        sensor="temperature_c",
        rule="high",
        severity="high",
        value=95.0,
        threshold=85.0,
        ts_ms=1_766_241_000_123,
        message="temperature_c 95.0 above 85.0",
        seq=1,
    )
    good = SourceRecord(key=b"a", value=event.encode(), topic="al", partition=0, offset=7)
    bad = SourceRecord(key=b"a", value=b"{}", topic="al", partition=0, offset=8)
    lines, sources, dead = decode_rows([good, bad], alarm_event_line, stage="alarms", now_ms=0)
    assert lines == [alarm_line(event)] and sources == [good]
    reason = orjson.loads(dead[0].value)
    assert reason["stage"] == "alarms" and reason["source"]["offset"] == 8
    assert reason["reason"] == "event: field required"


def test_a_point_read_back_is_the_entry_of_its_record():
    """Tags come back as text, fields as written; what a point lacks is empty or zero."""
    point = {
        "principal": "key:abc",
        "method": "GET",
        "status": "200",
        "path": '/api/machines/"42"',
        "role": "operator",
        "latency_ms": 1.5,
        "client": "127.0.0.1",
        "request_id": "req-1",
    }
    time = "2025-12-20T14:30:00.123Z"

    entry = audit_entry(point, time=time)

    fields = {k: v for k, v in RECORD.to_dict().items() if k != "ts_ms"}
    assert entry == AuditEntry(time=time, **fields)
    empty = dict.fromkeys(("request_id", "principal", "role", "method", "path", "client"), "")
    assert audit_entry({"status": "bad"}, time=time) == AuditEntry(
        time=time, status=0, latency_ms=0.0, **empty
    )
