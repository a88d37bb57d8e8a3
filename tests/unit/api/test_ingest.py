import pytest

from api.errors import BadRequestError, InvalidInputError
from api.ingest import accepted_body, parse_readings_body


def _parse(body: bytes, max_batch: int = 10):
    return parse_readings_body(
        body, source="api:scada", received_ms=1766241000000, max_batch=max_batch
    )


def test_seed_curl_body():
    readings = _parse(b'{"machine_id": 42, "temperature_c": 67.5}')

    assert len(readings) == 1
    assert readings[0].machine_id == "42"
    assert readings[0].values == {"temperature_c": 67.5}
    assert readings[0].source == "api:scada"
    assert accepted_body(readings) == {
        "accepted": 1,
        "readings": [{"machine_id": 42, "ts": "2025-12-20T14:30:00.000Z"}],
    }


def test_seed_scada_loop_body_with_timestamp():
    body = (
        b'{"machine_id": 42, "timestamp": "2025-12-20T14:30:00Z", "temperature_c": 67.5,'
        b' "pressure_bar": 4.8, "vibration_mm_s": 3.2}'
    )

    (reading,) = _parse(body)

    assert reading.ts_ms == 1766241000000
    assert set(reading.values) == {"temperature_c", "pressure_bar", "vibration_mm_s"}


def test_batch():
    readings = _parse(
        b'[{"machine_id": 1, "power_kw": 1}, {"machine_id": "press-2", "power_kw": 2}]'
    )

    assert [r.machine_id for r in readings] == ["1", "press-2"]


@pytest.mark.parametrize(
    ("body", "detail_start"),
    [
        (b'{"machine_id": 42, "temperature_c": "hot"}', "temperature_c: "),
        (b'{"temperature_c": 1}', "machine_id: field required"),
        (b'{"machine_id": 42}', "reading: carries no sensor value"),
        (
            b'[{"machine_id": 1, "power_kw": 1}, {"machine_id": 2, "power_kw": true}]',
            "[1].power_kw: ",
        ),
        (b'[{"machine_id": 1, "power_kw": 1}, 5]', "[1]: must be a JSON object"),
        (b"[]", "body: empty batch"),
        (b"42", "body: must be a reading object"),
        (b"[" + b",".join([b'{"machine_id": 1, "a": 1}'] * 11) + b"]", "body: batch of 11"),
    ],
)
def test_invalid_bodies_are_422_naming_field_and_index(body, detail_start):
    with pytest.raises(InvalidInputError) as raised:
        _parse(body)

    assert str(raised.value).startswith(detail_start)


@pytest.mark.parametrize("body", [b"", b"  ", b"{machine_id: 42"])
def test_unreadable_bodies_are_400(body):
    with pytest.raises(BadRequestError, match=r"^body: "):
        _parse(body)


def test_a_batch_of_one_machine_without_timestamps_is_refused_naming_the_second():
    body = b'[{"machine_id": 42, "temperature_c": 1}, {"machine_id": 42, "temperature_c": 2}]'
    with pytest.raises(InvalidInputError, match=r"^\[1\]\.timestamp: machine 42 has no timestamp"):
        _parse(body)


def test_a_batch_of_one_machine_at_one_timestamp_is_refused():
    body = (
        b'[{"machine_id": "a", "ts": "2025-12-20T14:30:00Z", "t": 1},'
        b' {"machine_id": "b", "ts": "2025-12-20T14:30:00Z", "t": 1},'
        b' {"machine_id": "a", "ts": "2025-12-20T14:30:00.000Z", "t": 2}]'
    )
    with pytest.raises(InvalidInputError, match=r"^\[2\]\.ts: machine a has the same time"):
        _parse(body)


def test_a_batch_with_a_time_per_reading_of_a_machine_is_kept_whole():
    body = (
        b'[{"machine_id": 42, "temperature_c": 1}, {"machine_id": 7, "temperature_c": 2},'
        b' {"machine_id": 42, "timestamp": "2025-12-20T14:29:59Z", "temperature_c": 3}]'
    )
    readings = _parse(body)
    assert len({(r.machine_id, r.ts_ms) for r in readings}) == 3
