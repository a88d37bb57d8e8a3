"""The alarm state of one machine, as kept in the alarm-state table (key = machine id).

Stored as a JSON-ready dict::

    {"machine_id": "42", "plant": "hall-b", "line": "3", "last_ts_ms": 1766241000123,
     "sensors": {"temperature_c": {"good_ts_ms": 1766241000123, "value": 67.5,
                                   "value_ts_ms": 1766241000123}},
     "alarms": {"temperature_c:high": {"state": "active_unacknowledged", "active": true,
                                       "seq": 3, ...}}}

``last_ts_ms`` is the time of the last reading evaluated: a reading no newer is skipped, so
a replayed stretch of the readings topic meets the state it left and repeats nothing. Each
alarm carries ``seq``, its transition counter, copied into every event
(:attr:`contracts.alarms.AlarmEvent.seq`). ``sensors`` remembers, for sensors with a
stale-data or rate-of-change rule only, the last good value and when it came.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from operator import attrgetter
from typing import Any, Literal

from contracts.alarm_state import AlarmFields, AlarmStateRecord, alarm_fields
from contracts.alarms import Severity, alarm_id

PendingKind = Literal["raise", "clear"]
ACTIVE_STATES: frozenset[str] = frozenset(("active_unacknowledged", "active_acknowledged"))


@dataclass(slots=True)
class Pending:
    """A raise or clear waiting for its on- or off-delay; it fires at ``due_ms`` unless the
    condition changes first."""

    kind: PendingKind
    since_ms: int
    due_ms: int
    value: float
    message: str = ""


@dataclass(slots=True, kw_only=True)
class AlarmEntry(AlarmFields):
    """One alarm of a machine: its :class:`~contracts.alarm_state.AlarmFields` (the state
    the alarm-state topic carries) and what only the engine keeps."""

    sensor: str
    rule: str
    seq: int = 0
    pending: Pending | None = None
    # The last operator action applied, so a replayed action is recognised and skipped.
    last_action_id: str = ""
    last_action_ts_ms: int = 0

    @classmethod
    def new(
        cls, sensor: str, rule: str, *, severity: Severity = "high", threshold: float = 0.0
    ) -> AlarmEntry:
        """An alarm that has never been raised."""
        return cls(
            sensor=sensor,
            rule=rule,
            severity=severity,
            state="normal",
            active=False,
            value=0.0,
            threshold=threshold,
            updated_ts_ms=0,
        )

    @property
    def key(self) -> str:
        return f"{self.sensor}:{self.rule}"

    def to_dict(self) -> dict[str, Any]:
        """As :func:`dataclasses.asdict`, which copies each value deeply: only ``pending``
        is not a plain value."""
        out = dict(zip(_ENTRY_FIELDS, _entry_values(self), strict=False))  # the same length
        if self.pending is not None:
            out["pending"] = asdict(self.pending)
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> AlarmEntry:
        data = dict(obj)
        pending = data.pop("pending", None)
        entry = cls(**data)
        entry.pending = Pending(**pending) if pending else None
        return entry


_ENTRY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AlarmEntry))
_entry_values = attrgetter(*_ENTRY_FIELDS)


@dataclass(slots=True)
class SensorMemory:
    good_ts_ms: int | None = None
    value: float | None = None
    value_ts_ms: int | None = None


@dataclass(slots=True)
class MachineState:
    machine_id: str
    plant: str = ""
    line: str = ""
    last_ts_ms: int | None = None
    sensors: dict[str, SensorMemory] = field(default_factory=dict)
    alarms: dict[str, AlarmEntry] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine_id": self.machine_id,
            "plant": self.plant,
            "line": self.line,
            "last_ts_ms": self.last_ts_ms,
            "sensors": {name: asdict(memory) for name, memory in self.sensors.items()},
            "alarms": {key: entry.to_dict() for key, entry in self.alarms.items()},
        }

    @classmethod
    def from_dict(cls, machine_id: str, obj: dict[str, Any] | None) -> MachineState:
        """Load a stored state; None (or a record of an older layout) gives a fresh one."""
        if not obj or "alarms" not in obj:
            return cls(machine_id=machine_id)
        return cls(
            machine_id=machine_id,
            plant=str(obj.get("plant", "")),
            line=str(obj.get("line", "")),
            last_ts_ms=obj.get("last_ts_ms"),
            sensors={
                name: SensorMemory(**memory) for name, memory in obj.get("sensors", {}).items()
            },
            alarms={key: AlarmEntry.from_dict(entry) for key, entry in obj["alarms"].items()},
        )

    def alarm_id(self, entry: AlarmEntry) -> str:
        return alarm_id(self.machine_id, entry.sensor, entry.rule)

    def record(self, entry: AlarmEntry) -> AlarmStateRecord:
        """The alarm-state topic's record of ``entry``."""
        values = alarm_fields(entry)
        values.update(
            alarm_id=self.alarm_id(entry),
            machine_id=self.machine_id,
            sensor=entry.sensor,
            rule=entry.rule,
            plant=self.plant,
            line=self.line,
        )
        return AlarmStateRecord.model_validate(values)
