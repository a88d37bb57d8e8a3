"""A small, fully known history for the analyst queries of ``docs/analysts.md``, written
in the pipeline's own line protocol to the telemetry, aggregates and alarms buckets.

One plant of its own and two machines of their own, so a query over the whole bucket can be
checked on these rows whatever else the session wrote:

- telemetry, one reading a minute for two hours from ``t0`` (an hour boundary, the stretch
  inside one UTC day): ``temperature_c`` in hour k is ``60 + 10k + minute/100`` (machine B:
  5 more); ``running`` is 1 for machine A's first 90 minutes then 0, always 1 for B;
  ``power_kw`` is 12 on A and 6 on B;
- aggregates, a ``1m`` window per minute of A's temperature: min t-1, max t+1, mean t;
- alarms: A's ``temperature_c:high`` raised 4 times in one minute (chattering), each
  acknowledged 5 s later and cleared 8 s later; B's ``temperature_c:high`` once, acknowledged
  after 60 s; B's ``vibration_mm_s:high`` raised two days ago and never cleared (standing).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from contracts.aggregates import SensorStats, WindowAggregate
from contracts.alarms import AlarmEvent, AlarmEventKind, AlarmState
from contracts.readings import Reading
from pipeline.storage.line_protocol import alarm_line, reading_line
from pipeline.windows.lines import aggregate_lines

HOUR = 3_600_000
MIN = 60_000
DAY = 24 * HOUR


@dataclass(frozen=True, slots=True)
class AnalystData:
    plant: str
    a: str
    b: str
    t0: int
    now_ms: int
    telemetry: list[str]
    aggregates: list[str]
    alarms: list[str]


def _start(now_ms: int) -> int:
    t0 = now_ms // HOUR * HOUR - 3 * HOUR
    if (t0 // HOUR) % 24 == 23:  # keep the two hours inside one UTC day
        t0 -= HOUR
    return t0


def temperature(machine_index: int, minute: int) -> float:
    hour, rest = divmod(minute, 60)
    return 60.0 + 10 * hour + rest / 100 + 5 * machine_index


def _readings(plant: str, machines: tuple[str, str], t0: int) -> list[str]:
    lines = []
    for index, machine in enumerate(machines):
        for minute in range(120):
            running = 1.0 if index == 1 or minute < 90 else 0.0
            values = {
                "temperature_c": temperature(index, minute),
                "running": running,
                "power_kw": 6.0 if index else 12.0,
            }
            reading = Reading(
                machine_id=machine, ts_ms=t0 + minute * MIN, values=values, plant=plant, line="1"
            )
            lines.append(reading_line(reading))
    return lines


def _aggregates(plant: str, machine: str, t0: int) -> list[str]:
    windows = []
    for minute in range(120):
        t = temperature(0, minute)
        stats = SensorStats(count=60, min=t - 1, max=t + 1, mean=t, last=t, stddev=0.5)
        start = t0 + minute * MIN
        windows.append(
            WindowAggregate(
                machine_id=machine,
                window="1m",
                start_ms=start,
                end_ms=start + MIN,
                sensors={"temperature_c": stats},
                plant=plant,
                line="1",
            )
        )
    return aggregate_lines(windows)


_STATES: dict[str, AlarmState] = {
    "raised": "active_unacknowledged",
    "acknowledged": "active_acknowledged",
    "cleared": "normal",
}


def _event(
    plant: str, machine: str, sensor: str, kind: AlarmEventKind, ts_ms: int, seq: int
) -> AlarmEvent:
    return AlarmEvent(
        alarm_id=f"{machine}:{sensor}:high",
        event=kind,
        state=_STATES[kind],
        machine_id=machine,
        sensor=sensor,
        rule="high",
        severity="high",
        value=90.0,
        threshold=85.0,
        ts_ms=ts_ms,
        message=f"{sensor} 90.0 above 85.0 on machine {machine}",
        plant=plant,
        line="1",
        by="user:ann" if kind == "acknowledged" else "",
        seq=seq,
    )


def _alarms(plant: str, a: str, b: str, t0: int, now_ms: int) -> list[str]:
    events = []
    for i in range(4):
        ts = t0 + 10 * MIN + i * 10_000
        events += [
            _event(plant, a, "temperature_c", "raised", ts, 3 * i + 1),
            _event(plant, a, "temperature_c", "acknowledged", ts + 5_000, 3 * i + 2),
            _event(plant, a, "temperature_c", "cleared", ts + 8_000, 3 * i + 3),
        ]
    ts = t0 + 30 * MIN
    events += [
        _event(plant, b, "temperature_c", "raised", ts, 1),
        _event(plant, b, "temperature_c", "acknowledged", ts + MIN, 2),
        _event(plant, b, "temperature_c", "cleared", ts + 2 * MIN, 3),
        _event(plant, b, "vibration_mm_s", "raised", (now_ms - 2 * DAY) // 1000 * 1000, 1),
    ]
    return [alarm_line(e) for e in events]


def make_data() -> AnalystData:
    now_ms = int(time.time() * 1000)
    t0 = _start(now_ms)
    plant = f"analyst-{random.randrange(16**8):08x}"
    a, b = (str(random.randrange(10**8, 10**9)) for _ in range(2))
    return AnalystData(
        plant=plant,
        a=a,
        b=b,
        t0=t0,
        now_ms=now_ms,
        telemetry=_readings(plant, (a, b), t0),
        aggregates=_aggregates(plant, a, t0),
        alarms=_alarms(plant, a, b, t0, now_ms),
    )
