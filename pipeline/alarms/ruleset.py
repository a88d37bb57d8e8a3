"""The thresholds in force: the latest record per ``machine/sensor`` key of the thresholds
topic, over the built-in defaults (:func:`contracts.thresholds.default_thresholds`).

A machine's own record for a sensor replaces the ``*`` record of that sensor whole; a
tombstone deletes a record (a ``*`` tombstone removes the default for every machine).
"""

from __future__ import annotations

from collections.abc import Iterable

from contracts.thresholds import ALL_MACHINES, SensorThresholds, default_thresholds


class RuleSet:
    """Mutable view of the thresholds; one per worker, fed by the thresholds topic."""

    def __init__(self, records: Iterable[SensorThresholds] | None = None) -> None:
        self._records: dict[tuple[str, str], SensorThresholds] = {}
        self._by_machine: dict[str, dict[str, SensorThresholds]] = {}
        # Bumped on every change, so a caller can tell that the rules moved.
        self.version = 0
        for record in default_thresholds() if records is None else records:
            self.put(record)

    def put(self, record: SensorThresholds) -> None:
        self._records[(record.machine_id, record.sensor)] = record
        self._by_machine.setdefault(record.machine_id, {})[record.sensor] = record
        self.version += 1

    def delete(self, machine_id: str, sensor: str) -> None:
        self._records.pop((machine_id, sensor), None)
        sensors = self._by_machine.get(machine_id)
        if sensors is not None:
            sensors.pop(sensor, None)
            if not sensors:
                del self._by_machine[machine_id]
        self.version += 1

    def for_sensor(self, machine_id: str, sensor: str) -> SensorThresholds | None:
        """The record that applies to ``sensor`` of ``machine_id``, or None."""
        own = self._by_machine.get(machine_id)
        if own is not None and sensor in own:
            return own[sensor]
        defaults = self._by_machine.get(ALL_MACHINES)
        return defaults.get(sensor) if defaults is not None else None

    def for_machine(self, machine_id: str) -> dict[str, SensorThresholds]:
        """Every sensor of ``machine_id`` that has rules, with the record that applies."""
        out = dict(self._by_machine.get(ALL_MACHINES, {}))
        out.update(self._by_machine.get(machine_id, {}))
        return out

    def __len__(self) -> int:
        return len(self._records)
