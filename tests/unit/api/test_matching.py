from api.live.frames import reading_frame
from api.live.matching import field_matches, filter_frame
from contracts.readings import Reading

READING = Reading(
    machine_id="42",
    ts_ms=1766241000000,
    values={"temperature_c": 68.1, "vibration_mm_s": 3.5, "power_kw": 12.7, "pressure_bar": 4.8},
    quality={"temperature_c": "good", "pressure_bar": "bad"},
    seq=3,
)


def test_prefix_matching():
    prefixes = ("temperature", "power")

    assert field_matches("temperature_c", prefixes)
    assert field_matches("power_kw", prefixes)
    assert not field_matches("pressure_bar", prefixes)
    assert field_matches("anything", ())


def test_seed_subscription_cuts_the_flat_frame():
    frame = filter_frame(
        reading_frame(READING), READING.values, ("temperature", "vibration", "power")
    )

    assert frame == {
        "type": "reading",
        "machine_id": 42,
        "ts": "2025-12-20T14:30:00.000Z",
        "seq": 3,
        "temperature_c": 68.1,
        "vibration_mm_s": 3.5,
        "power_kw": 12.7,
        "quality": {"temperature_c": "good"},
    }


def test_empty_subscription_keeps_everything_and_no_match_is_none():
    full = reading_frame(READING)

    assert filter_frame(full, READING.values, ()) == full
    assert filter_frame(full, READING.values, ("spindle",)) is None


def test_quality_dropped_when_no_subscribed_sensor_has_one():
    frame = filter_frame(reading_frame(READING), READING.values, ("vibration",))

    assert frame is not None
    assert "quality" not in frame
    assert frame["vibration_mm_s"] == 3.5
