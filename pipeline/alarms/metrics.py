"""Flood and chattering, counted in ISA-18.2's terms.

- A plant is in **flood** while more than 10 alarms were raised in it within 10 minutes;
  each flood that starts is counted once (``millstream_alarm_floods_total{plant}``), and
  ``millstream_alarm_flood_active{plant}`` is 1 while it lasts.
- An alarm **chatters** when it raises (and so clears in between) 3 or more times within a
  minute; each chattering episode is counted once (``millstream_alarm_chattering_total``).
- Every published event is counted by kind (``millstream_alarm_events_total{event}``).

Windows run on the events' own timestamps, so a replay counts the same way. The counters
live in a Prometheus registry of their own (served by the worker's web server at
``/alarms/metrics/`` when it is enabled) and each flood and chattering episode is logged.
They are per worker: after a rebalance the new owner starts its windows afresh.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.alarms import AlarmEvent

logger = logging.getLogger(__name__)

FLOOD_ALARMS = 10
FLOOD_WINDOW_MS = 600_000
CHATTER_RAISES = 3
CHATTER_WINDOW_MS = 60_000


class AlarmMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._events = Counter(
            "millstream_alarm_events",
            "Alarm events published, by kind.",
            ["event"],
            registry=self.registry,
        )
        self._floods = Counter(
            "millstream_alarm_floods",
            "Alarm floods started (more than 10 alarms in 10 minutes in a plant).",
            ["plant"],
            registry=self.registry,
        )
        self._flood_active = Gauge(
            "millstream_alarm_flood_active",
            "1 while the plant is in an alarm flood.",
            ["plant"],
            registry=self.registry,
        )
        self._chattering = Counter(
            "millstream_alarm_chattering",
            "Chattering episodes (an alarm raised 3 or more times within a minute).",
            registry=self.registry,
        )
        self._raised_by_plant: dict[str, deque[int]] = {}
        self._raised_by_alarm: dict[str, deque[int]] = {}
        self.flooding: set[str] = set()
        self.chattering: set[str] = set()
        self.floods_total = 0
        self.chattering_total = 0

    def observe(self, events: Iterable[AlarmEvent]) -> None:
        for event in events:
            self._events.labels(event=event.event).inc()
            if event.event == "raised":
                self._raised(event)

    def _raised(self, event: AlarmEvent) -> None:
        ts = event.ts_ms
        plant = event.plant or "-"
        window = self._raised_by_plant.setdefault(plant, deque())
        window.append(ts)
        while window and window[0] <= ts - FLOOD_WINDOW_MS:
            window.popleft()
        if len(window) > FLOOD_ALARMS:
            if plant not in self.flooding:
                self.flooding.add(plant)
                self.floods_total += 1
                self._floods.labels(plant=plant).inc()
                self._flood_active.labels(plant=plant).set(1)
                logger.warning(
                    "alarm flood started plant=%s alarms=%d window_s=%d",
                    plant,
                    len(window),
                    FLOOD_WINDOW_MS // 1000,
                )
        elif plant in self.flooding:
            self.flooding.discard(plant)
            self._flood_active.labels(plant=plant).set(0)
            logger.info("alarm flood ended plant=%s", plant)
        raises = self._raised_by_alarm.setdefault(event.alarm_id, deque())
        raises.append(ts)
        while raises and raises[0] <= ts - CHATTER_WINDOW_MS:
            raises.popleft()
        if len(raises) >= CHATTER_RAISES:
            if event.alarm_id not in self.chattering:
                self.chattering.add(event.alarm_id)
                self.chattering_total += 1
                self._chattering.inc()
                logger.warning(
                    "alarm chattering alarm_id=%s raises=%d window_s=%d",
                    event.alarm_id,
                    len(raises),
                    CHATTER_WINDOW_MS // 1000,
                )
        else:
            self.chattering.discard(event.alarm_id)
