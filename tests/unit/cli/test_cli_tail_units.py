"""`millstream tail`'s pure parts: subscriptions, resuming, de-duplication, rendering, and
where the credential comes from."""

from __future__ import annotations

import pytest
from rich.console import Console

from cli.connection import resolve_api
from cli.errors import CliError
from cli.render import alarm_text, reading_text, split_unit
from cli.tail import (
    TailOptions,
    TailState,
    overview_readings,
    subscribe_messages,
    units_of,
    wanted_alarm,
)


def test_subscriptions_resume_alarms_from_the_cursor() -> None:
    options = TailOptions(machines=("42", "press-7"), sensors=("temperature",))
    first = subscribe_messages(options, None)
    assert first == [
        {"action": "subscribe", "machine_id": 42, "sensors": ["temperature"]},
        {"action": "subscribe", "machine_id": "press-7", "sensors": ["temperature"]},
        {"action": "subscribe_alarms"},
    ]
    again = subscribe_messages(options, "0:12,1:7")
    assert again[-1] == {"action": "subscribe_alarms", "cursor": "0:12,1:7"}
    one_plant = subscribe_messages(TailOptions(plants=("north",)), None)
    assert one_plant == [
        {"action": "subscribe_overview", "interval_ms": 1000, "plant": "north"},
        {"action": "subscribe_alarms", "plant": "north"},
    ]
    two_plants = subscribe_messages(
        TailOptions(plants=("north", "south"), plant_readings=False), None
    )
    assert two_plants == [{"action": "subscribe_alarms"}]
    assert subscribe_messages(TailOptions(machines=("1",), alarms=False), None) == [
        {"action": "subscribe", "machine_id": 1}
    ]


def test_an_overview_gives_the_readings_of_the_plants_asked_for() -> None:
    frame = {
        "type": "overview",
        "machines": [
            {"machine_id": 42, "plant": "north", "ts": "t", "temperature_c": 70.0},
            {"machine_id": 7, "plant": "east", "ts": "t", "temperature_c": 60.0},
        ],
    }
    [entry] = overview_readings(TailOptions(plants=("north", "south")), frame)
    assert entry == {"type": "reading", **frame["machines"][0]}  # type: ignore[dict-item]


def test_alarms_are_filtered_to_what_was_asked() -> None:
    alarm = {"type": "alarm", "machine_id": 42, "plant": "north"}
    assert wanted_alarm(TailOptions(machines=("42",)), alarm)
    assert not wanted_alarm(TailOptions(machines=("43",)), alarm)
    assert wanted_alarm(TailOptions(machines=("43",), all_alarms=True), alarm)
    assert wanted_alarm(TailOptions(plants=("south", "north")), alarm)
    assert not wanted_alarm(TailOptions(plants=("south",)), alarm)
    assert wanted_alarm(TailOptions(), alarm)


def test_an_event_replayed_twice_is_shown_once() -> None:
    state = TailState()
    event = {"alarm_id": "42:temperature_c:high", "seq": 3}
    assert state.first_time(event)
    assert not state.first_time(event)
    assert state.first_time({**event, "seq": 4})


def _plain(text: object) -> str:
    console = Console(width=300, no_color=True)
    with console.capture() as captured:
        console.print(text)
    return captured.get().strip()


def test_a_reading_is_one_line_with_units() -> None:
    frame = {
        "type": "reading",
        "machine_id": 42,
        "ts": "2025-12-20T14:30:00.123Z",
        "seq": 9,
        "temperature_c": 68.1,
        "vibration_mm_s": 3.5,
        "running": 1.0,
        "quality": {"vibration_mm_s": "uncertain"},
    }
    assert _plain(reading_text(frame)) == (
        "14:30:00.123  42  temperature 68.1 °C  vibration 3.5 mm/s(uncertain)  running 1"
    )
    assert _plain(reading_text({"machine_id": 1, "ts": "x", "flow": 2}, {"flow": "l/min"})) == (
        "x  1  flow 2 l/min"
    )


def test_an_alarm_says_its_severity_in_text_and_colour() -> None:
    frame = {
        "type": "alarm",
        "event": "raised",
        "severity": "critical",
        "machine_id": 42,
        "sensor": "temperature_c",
        "rule": "high_high",
        "value": 97.0,
        "threshold": 95.0,
        "ts": "2025-12-20T14:30:05.000Z",
        "message": "overheat",
    }
    text = alarm_text(frame)
    assert _plain(text) == (
        "14:30:05.000  ALARM CRITICAL raised  42 temperature_c high_high  97 °C (limit 95 °C)"
        "  overheat"
    )
    assert any(str(span.style) == "bold white on red" for span in text.spans)
    cleared = alarm_text({**frame, "event": "cleared"})
    assert any(str(span.style) == "green" for span in cleared.spans)


def test_units_come_from_the_machine_object_in_either_shape() -> None:
    assert units_of({"sensors": [{"name": "t", "unit": "°C"}, {"name": "x", "unit": ""}]}) == {
        "t": "°C"
    }
    assert units_of({"units": {"power": "kW"}}) == {"power": "kW"}
    assert units_of({"sensors": {"t": 1.0}}) == {}
    assert split_unit("oil_pressure_bar") == ("oil_pressure", "bar")
    assert split_unit("c") == ("c", "")


def test_the_credential_comes_from_options_then_environment() -> None:
    api = resolve_api(
        url=None,
        api_key=None,
        token=None,
        user=None,
        environ={"MILLSTREAM_API_KEY": "sk_test_1", "MILLSTREAM_URL": "https://example.com:8443/"},
    )
    assert api.url == "https://example.com:8443"
    assert api.headers() == {"X-API-Key": "sk_test_1"}
    assert api.live_url() == "wss://example.com:8443/live?api_key=sk_test_1"
    bearer = resolve_api(url=None, api_key=None, token="a.b c", user=None, environ={})
    assert bearer.url == "http://127.0.0.1:8080"
    assert bearer.headers() == {"Authorization": "Bearer a.b c"}
    assert bearer.live_url() == "ws://127.0.0.1:8080/live?token=a.b%20c"
    with pytest.raises(CliError, match="--api-key"):
        resolve_api(url=None, api_key=None, token=None, user=None, environ={})
    with pytest.raises(CliError, match="--url"):
        resolve_api(url="ftp://x", api_key="k", token=None, user=None, environ={})


def test_relative_times_after_start_and_stop_are_values() -> None:
    from cli.main import _relative_times

    assert _relative_times(["query", "42", "--start", "-3d", "--stop", "-1h", "-o", "x"]) == [
        "query",
        "42",
        "--start=-3d",
        "--stop=-1h",
        "-o",
        "x",
    ]


def test_the_next_page_starts_a_millisecond_after_the_last_point() -> None:
    from cli.query import _after, render

    assert _after("2025-12-20T14:30:00.999Z") == "2025-12-20T14:30:01.000Z"
    document = {"machine_id": 42, "points": [{"ts": "t1", "a_c": 1.5}, {"ts": "t2", "b_kw": 2}]}
    assert render(document, "csv") == "machine_id,ts,a_c,b_kw\n42,t1,1.5,\n42,t2,,2\n"


def test_a_refused_row_is_named_by_its_file_line() -> None:
    from cli.historian import Row
    from cli.importer import _line_of

    batch = [Row(10, {}), Row(12, {}), Row(15, {})]
    assert _line_of("HTTP 422: [1].timestamp: outside", batch) == "12"
    assert _line_of("HTTP 422: body: too large", batch) == "10-15"
