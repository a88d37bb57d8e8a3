"""The InfluxDB sink and the hand-built line protocol against a real InfluxDB server."""

from __future__ import annotations

import uuid

import pytest
from influxdb_client import InfluxDBClient
from pipelinetools import raised_alarm

from contracts.readings import Reading
from contracts.timefmt import now_ms
from pipeline.sink.errors import InfluxWriteError
from pipeline.sink.influx import InfluxSink
from pipeline.storage.line_protocol import alarm_line, reading_line

pytestmark = pytest.mark.integration


def sink_for(influx, **overrides) -> InfluxSink:
    options = {
        "url": influx.url,
        "token": influx.token,
        "org": influx.org,
        "readings_bucket": influx.bucket,
        "alarms_bucket": influx.alarms_bucket,
        "aggregates_bucket": influx.aggregates_bucket,
        "audit_bucket": influx.audit_bucket,
    }
    options.update(overrides)
    return InfluxSink(**options)


def query(influx, bucket: str, flux_filter: str) -> list[dict]:
    flux = (
        f'from(bucket: "{bucket}") |> range(start: -1d, stop: 1h) '
        f"|> filter(fn: (r) => {flux_filter})"
    )
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org) as client:
        tables = client.query_api().query(flux)
    return [record.values for table in tables for record in table.records]


async def test_escaped_tags_and_fields_read_back_exactly(influx):
    machine = f"esc-{uuid.uuid4().hex[:8]}"
    plant = 'Plant, "North"=1 \\ east'
    line = "line 3,A=B"
    ts = now_ms() - 5_000
    r = Reading(
        machine_id=machine,
        ts_ms=ts,
        values={"temperature_c": 67.25, "pressure_bar": 2.0, "tiny_x": 1e-7},
        quality={"pressure_bar": "uncertain"},
        plant=plant,
        line=line,
    )
    async with sink_for(influx) as sink:
        await sink.write_readings([reading_line(r)])
    rows = query(influx, influx.bucket, f'r.machine_id == "{machine}"')
    values = {row["_field"]: row["_value"] for row in rows}
    assert values == {
        "temperature_c": 67.25,
        "pressure_bar": 2.0,
        "pressure_bar_quality": "uncertain",
        "tiny_x": 1e-7,
    }
    assert {(row["plant"], row["line"]) for row in rows} == {(plant, line)}
    assert {int(row["_time"].timestamp() * 1000) for row in rows} == {ts}
    assert all(row["_measurement"] == "readings" for row in rows)


async def test_rewriting_the_same_point_overwrites_it(influx):
    machine = f"ow-{uuid.uuid4().hex[:8]}"
    ts = now_ms() - 5_000
    first = Reading(machine_id=machine, ts_ms=ts, values={"temperature_c": 70.0})
    again = Reading(machine_id=machine, ts_ms=ts, values={"temperature_c": 71.5})
    async with sink_for(influx) as sink:
        await sink.write_readings([reading_line(first)])
        await sink.write_readings([reading_line(first), reading_line(again)])
    rows = query(influx, influx.bucket, f'r.machine_id == "{machine}"')
    assert [row["_value"] for row in rows] == [71.5]


async def test_alarm_rows_go_to_the_alarms_bucket(influx):
    machine = f"al-{uuid.uuid4().hex[:8]}"
    event = raised_alarm(
        machine,
        value=86.2,
        threshold=85.0,
        ts_ms=now_ms() - 5_000,
        message=f'temperature_c 86.2 above 85.0 on machine {machine}, "hot"',
    )
    async with sink_for(influx) as sink:
        await sink.write_alarms([alarm_line(event)])
    rows = query(influx, influx.alarms_bucket, f'r.machine_id == "{machine}"')
    assert {row["_field"]: row["_value"] for row in rows} == {
        "event": "raised",
        "state": "active_unacknowledged",
        "value": 86.2,
        "threshold": 85.0,
        "message": event.message,
    }
    assert {(row["sensor"], row["severity"], row["rule"]) for row in rows} == {
        ("temperature_c", "high", "high")
    }
    assert query(influx, influx.bucket, f'r.machine_id == "{machine}"') == []


async def test_missing_bucket_fails_in_one_attempt_as_a_configuration_error(influx):
    async with sink_for(influx, readings_bucket=f"nope-{uuid.uuid4().hex[:6]}") as sink:
        with pytest.raises(InfluxWriteError) as info:
            await sink.write_readings(["readings,machine_id=x temperature_c=1 1"])
    assert info.value.status == 404
    # Not bad data: retried by delivery (and logged) until the bucket exists.
    assert info.value.outcome == "retryable"


async def test_bad_token_fails_as_unauthorized(influx):
    async with sink_for(influx, token="not-the-token") as sink:
        with pytest.raises(InfluxWriteError) as info:
            await sink.write_readings(["readings,machine_id=x temperature_c=1 1"])
    assert info.value.status == 401
    assert info.value.outcome == "retryable"


async def test_field_type_conflict_is_refused_with_400(influx):
    machine = f"tc-{uuid.uuid4().hex[:8]}"
    ts = now_ms() - 5_000
    async with sink_for(influx) as sink:
        await sink.write_readings([f"readings,machine_id={machine} odd_x=1 {ts}"])
        with pytest.raises(InfluxWriteError) as info:
            await sink.write_readings([f'readings,machine_id={machine} odd_x="text" {ts + 1}'])
    assert info.value.status in (400, 422)
    assert info.value.outcome == "refused"
    assert "odd_x" in str(info.value)
