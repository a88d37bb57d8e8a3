"""ISA-18.2 KPIs from alarm events: rates, flood, bad actors, chattering, standing, acks."""

from __future__ import annotations

from api.alarms.health import Event, alarm_health

T0 = 1_766_238_000_000  # a 10-minute boundary
MIN = 60_000


def _e(
    ts_ms: int, event: str, machine: str = "42", plant: str = "north", rule: str = "high"
) -> Event:
    return Event(
        ts_ms=ts_ms, event=event, plant=plant, machine_id=machine, sensor="temperature_c", rule=rule
    )


def test_rates_flood_and_top():
    # 12 raises in the first 10 minutes on machine 42 (a flood), 3 later on machine 7.
    events = [_e(T0 + i * 30_000, "raised") for i in range(12)]
    events += [_e(T0 + 30 * MIN + i * MIN, "raised", machine="7", plant="south") for i in range(3)]
    kpi = alarm_health(events, start_ms=T0, stop_ms=T0 + 60 * MIN, now_ms=T0 + 60 * MIN, plant=None)

    north, south = kpi["plants"]
    assert (north["plant"], north["raised"], north["per_10min_peak"]) == ("north", 12, 12)
    assert north["per_10min_avg"] == 2.0  # 12 alarms over six 10-minute windows
    assert north["flood_pct"] == round(100 / 6, 3)
    assert south["flood_pct"] == 0.0 and south["per_10min_peak"] == 3
    assert kpi["total"]["raised"] == 15
    assert kpi["total"]["peak_at"] == "2025-12-20T13:40:00.000Z"
    assert [(t["alarm_id"], t["count"]) for t in kpi["top"]] == [
        ("42:temperature_c:high", 12),
        ("7:temperature_c:high", 3),
    ]
    assert kpi["top"][0]["pct"] == 80.0 and kpi["top"][0]["machine_id"] == 42


def test_chattering_needs_three_raises_within_a_minute():
    events = [_e(T0 + s * 1000, "raised") for s in (0, 20, 50)]  # 3 in 50 s
    events += [_e(T0 + s * 1000, "raised", machine="7") for s in (0, 61, 122)]  # never 3 in 60 s
    kpi = alarm_health(events, start_ms=T0, stop_ms=T0 + 10 * MIN, now_ms=T0, plant=None)
    assert [(c["alarm_id"], c["max_per_min"], c["episodes"]) for c in kpi["chattering"]] == [
        ("42:temperature_c:high", 3, 1)
    ]


def test_standing_alarms_and_time_to_acknowledge():
    day = 24 * 60 * MIN
    stop = T0 + 3 * day
    events = [
        _e(T0, "raised", machine="1"),
        _e(T0 + 30_000, "acknowledged", machine="1"),
        _e(T0 + 2 * day, "cleared", machine="1"),  # active 48 h: standing, cleared
        _e(T0 + MIN, "raised", machine="2"),
        _e(T0 + MIN + 90_000, "acknowledged", machine="2"),
        _e(T0 + 2 * MIN, "cleared", machine="2"),  # short: not standing
        _e(stop - 25 * 60 * MIN, "raised", machine="3"),  # still active after 25 h
        _e(T0 + 10 * MIN, "cleared", machine="4"),  # active since before the period
    ]
    kpi = alarm_health(events, start_ms=T0, stop_ms=stop, now_ms=stop, plant=None)

    standing = {s["alarm_id"]: s for s in kpi["standing"]}
    assert set(standing) == {"1:temperature_c:high", "3:temperature_c:high"}
    assert standing["1:temperature_c:high"]["active_s"] == 2 * day / 1000
    assert standing["1:temperature_c:high"]["active_now"] is False
    assert standing["3:temperature_c:high"]["active_now"] is True
    acks = kpi["acknowledge"]
    assert (acks["count"], acks["unacknowledged"]) == (2, 1)
    assert (acks["mean_s"], acks["median_s"], acks["max_s"]) == (60.0, 60.0, 90.0)


def test_no_events():
    kpi = alarm_health([], start_ms=T0, stop_ms=T0 + MIN, now_ms=T0, plant="north")
    assert kpi["total"] == {
        "plant": "north",
        "raised": 0,
        "per_10min_avg": 0.0,
        "per_10min_peak": 0,
        "peak_at": None,
        "flood_pct": 0.0,
    }
    assert kpi["acknowledge"]["mean_s"] is None and kpi["top"] == []
