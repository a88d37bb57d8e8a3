import math
import random
import string
import struct

import pytest
from influxdb_client import Point, WritePrecision

from contracts.alarms import AlarmEvent
from contracts.line_protocol import (
    escape_key,
    escape_measurement,
    escape_tag_value,
    float_field,
    string_field,
    tag_set,
)
from contracts.readings import Reading
from pipeline.storage.line_protocol import alarm_line, reading_line

TS = 1_766_241_000_123


def reference_reading_line(reading: Reading) -> str:
    point = Point("readings")
    for key, value in (
        ("plant", reading.plant),
        ("line", reading.line),
        ("machine_id", reading.machine_id),
    ):
        point.tag(key, value)
    for sensor, value in reading.values.items():
        point.field(sensor, value)
        quality = reading.quality.get(sensor, "good")
        if quality != "good":
            point.field(f"{sensor}_quality", quality)
    return point.time(reading.ts_ms, WritePrecision.MS).to_line_protocol()


def normalised(line: str) -> tuple[str, list[str], str]:
    """Series, sorted fields and time of a readings line (sensor keys never need escaping)."""
    series, fields, ts = line.rsplit(" ", 2)
    return series, sorted(fields.split(",")), ts


def test_reading_line_has_tags_fields_and_ms_timestamp():
    r = Reading(
        machine_id="42",
        ts_ms=TS,
        values={"temperature_c": 67.5, "pressure_bar": 2.0},
        plant="hall-b",
        line="3",
    )
    assert reading_line(r) == (
        "readings,line=3,machine_id=42,plant=hall-b temperature_c=67.5,pressure_bar=2 1766241000123"
    )


def test_empty_tags_are_omitted():
    r = Reading(machine_id="42", ts_ms=TS, values={"temperature_c": 67.5})
    assert reading_line(r) == "readings,machine_id=42 temperature_c=67.5 1766241000123"


def test_quality_field_only_when_not_good():
    r = Reading(
        machine_id="42",
        ts_ms=TS,
        values={"temperature_c": 67.5, "vibration_mm_s": 3.5, "power_kw": 11.25},
        quality={"temperature_c": "good", "vibration_mm_s": "uncertain", "power_kw": "bad"},
    )
    line = reading_line(r)
    assert 'vibration_mm_s_quality="uncertain"' in line
    assert 'power_kw_quality="bad"' in line
    assert "temperature_c_quality" not in line
    assert normalised(line) == normalised(reference_reading_line(r))


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("hall b", r"hall\ b"),
        ("a,b", r"a\,b"),
        ("k=v", r"k\=v"),
        ("a, b=c", r"a\,\ b\=c"),
        ('say "hi"', r'say\ "hi"'),
        ("line\nbreak", r"line\nbreak"),
        ("tab\there", r"tab\there"),
        ("back\\slash", "back\\slash"),
        ("ends with\\", "ends\\ with\\ "),
        ("plain", "plain"),
        ("Hallé", "Hallé"),
    ],
)
def test_tag_value_escaping(raw, escaped):
    assert escape_tag_value(raw) == escaped


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("my field", r"my\ field"), ("a,b", r"a\,b"), ("a=b", r"a\=b"), ("x\r", r"x\r")],
)
def test_key_escaping(raw, escaped):
    assert escape_key(raw) == escaped


def test_measurement_escapes_comma_and_space_but_not_equals():
    assert escape_measurement("my meas,x=1") == r"my\ meas\,x=1"


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"', r'"say \"hi\""'),
        ("C:\\temp", r'"C:\\temp"'),
        ("a, b=c d", '"a, b=c d"'),
    ],
)
def test_string_field_escapes_quotes_and_backslashes_only(raw, quoted):
    assert string_field(raw) == quoted


@pytest.mark.parametrize(
    ("value", "text"),
    [(85.0, "85"), (86.2, "86.2"), (-0.5, "-0.5"), (1e20, "1e+20"), (3, "3"), (1e-7, "1e-07")],
)
def test_float_field_has_no_integer_suffix(value, text):
    assert float_field(value) == text
    assert not text.endswith("i")


def test_tag_set_sorts_and_skips_empty_values():
    assert tag_set({"zeta": "1", "alpha": "", "mid dle": "x y"}) == r",mid\ dle=x\ y,zeta=1"
    assert tag_set({}) == ""


def test_tags_with_every_special_character_match_the_client_reference():
    r = Reading(
        machine_id="m-1.a:b_c",
        ts_ms=TS,
        values={"temperature_c": 67.5},
        plant='Plant, "North"=1 \\',
        line="line 3\tA\nB",
    )
    assert normalised(reading_line(r)) == normalised(reference_reading_line(r))


def test_random_readings_match_the_client_reference():
    rng = random.Random(1842)
    alphabet = string.ascii_letters + string.digits + " ,=\"\\\n\t\r'é_-"
    for _ in range(500):
        values = {
            f"s{n}_{rng.choice('abc')}": rng.choice([rng.uniform(-1e6, 1e6), float(n), 0.0])
            for n in range(rng.randint(1, 5))
        }
        quality = {name: rng.choice(["good", "uncertain", "bad"]) for name in values}
        r = Reading(
            machine_id=rng.choice(["42", "press-7", "m.1"]),
            ts_ms=rng.randint(0, 2**41),
            values=values,
            quality=quality,
            plant="".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))),
            line="".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))),
        )
        assert normalised(reading_line(r)) == normalised(reference_reading_line(r)), r


def alarm_event(**overrides):
    fields = {
        "alarm_id": "42:temperature_c:high",
        "event": "raised",
        "state": "active_unacknowledged",
        "machine_id": "42",
        "sensor": "temperature_c",
        "rule": "high",
        "severity": "high",
        "value": 86.2,
        "threshold": 85.0,
        "ts_ms": TS,
        "message": "temperature_c 86.2 above 85.0 on machine 42",
    }
    fields.update(overrides)
    return AlarmEvent(**fields)


def test_alarm_line_layout():
    assert alarm_line(alarm_event()) == (
        "alarms,machine_id=42,rule=high,sensor=temperature_c,severity=high "
        'event="raised",message="temperature_c 86.2 above 85.0 on machine 42",'
        'state="active_unacknowledged",threshold=85,value=86.2 1766241000123'
    )


def test_alarm_line_matches_the_client_reference():
    event = alarm_event(message='he said "too hot", C:\\path', machine_id="m 1,x")
    point = (
        Point("alarms")
        .tag("machine_id", event.machine_id)
        .tag("sensor", event.sensor)
        .tag("severity", event.severity)
        .tag("rule", event.rule)
        .field("state", event.state)
        .field("event", event.event)
        .field("value", event.value)
        .field("threshold", event.threshold)
        .field("message", event.message)
        .time(event.ts_ms, WritePrecision.MS)
    )
    assert alarm_line(event) == point.to_line_protocol()


def test_operator_alarm_line_carries_plant_line_by_and_comment_like_the_client():
    event = alarm_event(
        event="acknowledged", plant="hall b", line="3", by="user:ana", comment='seen, "ok"'
    )
    point = (
        Point("alarms")
        .tag("plant", event.plant)
        .tag("line", event.line)
        .tag("machine_id", event.machine_id)
        .tag("sensor", event.sensor)
        .tag("severity", event.severity)
        .tag("rule", event.rule)
        .field("by", event.by)
        .field("comment", event.comment)
        .field("state", event.state)
        .field("event", event.event)
        .field("value", event.value)
        .field("threshold", event.threshold)
        .field("message", event.message)
        .time(event.ts_ms, WritePrecision.MS)
    )
    assert alarm_line(event) == point.to_line_protocol()


def test_text_tags_are_string_fields_like_the_client_writes_them():
    r = Reading(
        machine_id="42",
        ts_ms=TS,
        values={"temperature_c": 67.5},
        quality={"batch_id": "bad"},
        texts={"recipe": 'P-17"steel"\\2', "batch_id": "B-42"},
        plant="hall-b",
    )
    point = Point("readings").tag("plant", "hall-b").tag("machine_id", "42")
    point.field("temperature_c", 67.5)
    point.field("recipe", 'P-17"steel"\\2')
    point.field("batch_id", "B-42")
    point.field("batch_id_quality", "bad")
    reference = point.time(TS, WritePrecision.MS).to_line_protocol()
    assert normalised(reading_line(r)) == normalised(reference)


def test_many_values_of_any_magnitude_match_the_client_reference():
    # Readings of dozens of floats, all good, take the one-call path; values of every
    # magnitude (exponents, small numbers, whole numbers, -0.0) must read as before.
    rng = random.Random(30)
    plain = [0.0, -0.0, 3.0, 1e-4, 0.00012, 50.0000114440918, 1e15, 123456789.0]
    odd = [1e-5, 9.99e-5, 1e16, 1.5e16, 1e-7, 5e-324, 1e308]
    for n in range(300):
        values = {f"tag_{i:02d}": rng.choice(plain) for i in range(4)}
        for i in range(4, 30):
            value = round(rng.uniform(-1e6, 1e6), rng.randint(0, 6))
            if n % 3 == 0:  # exponents and small numbers: the per-value path
                bits = rng.getrandbits(64)
                value = struct.unpack("<d", bits.to_bytes(8, "little"))[0]
                value = value if math.isfinite(value) else rng.choice(odd)
            values[f"tag_{i:02d}"] = value
        quality = dict.fromkeys(values, "good")
        if n % 2:  # some values stale or bad: a quality field each
            quality.update({k: rng.choice(["stale", "bad"]) for k in rng.sample(list(values), 3)})
        r = Reading(machine_id="42", ts_ms=TS + n, values=values, quality=quality, plant="p")
        assert normalised(reading_line(r)) == normalised(reference_reading_line(r))
        expected = [f"{k}={float_field(v)}" for k, v in values.items()]
        expected += [f'{k}_quality="{q}"' for k, q in quality.items() if q != "good"]
        assert sorted(reading_line(r).split(" ")[1].split(",")) == sorted(expected)
