"""Alarm events as they travel on the alarms topic (key = alarm id).

The alarm id is deterministic — machine, sensor and rule — so a replayed stream
updates the same alarm instead of creating a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from contracts.codec import decode_object
from contracts.errors import ContractError
from contracts.timefmt import format_ts, parse_ts

AlarmEventKind = Literal["raised", "cleared", "acknowledged", "shelved", "unshelved"]
# ISA-18.2 states of an alarm.
AlarmState = Literal[
    "normal", "active_unacknowledged", "active_acknowledged", "cleared_unacknowledged", "shelved"
]
Severity = Literal["low", "medium", "high", "critical"]

# The rule part of an alarm id: the limit kinds of contracts.thresholds, rate of change,
# stale data, loss of communication with the machine, and alarms logged by hand.
RuleName = Literal[
    "high_high", "high", "low", "low_low", "rate_of_change", "stale", "comm_loss", "manual"
]
RULE_NAMES: frozenset[str] = frozenset(
    ("high_high", "high", "low", "low_low", "rate_of_change", "stale", "comm_loss", "manual")
)
# Communication loss concerns a whole machine; its alarms use this in place of a sensor.
COMM_LOSS_SENSOR = "machine"

_EVENTS = frozenset(("raised", "cleared", "acknowledged", "shelved", "unshelved"))


def alarm_id(machine_id: str, sensor: str, rule: str) -> str:
    return f"{machine_id}:{sensor}:{rule}"


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    alarm_id: str
    event: AlarmEventKind
    state: AlarmState
    machine_id: str
    sensor: str
    rule: str
    severity: Severity
    value: float
    threshold: float
    ts_ms: int
    message: str
    plant: str = ""
    line: str = ""
    # Who caused an operator event (acknowledged, shelved, unshelved), and their comment.
    by: str = ""
    comment: str = ""
    # The alarm's transition counter: (alarm_id, seq) identifies an event, so a consumer
    # that sees the same pair twice (a replay after a crash) drops the second.
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "alarm_id": self.alarm_id,
            "event": self.event,
            "state": self.state,
            "machine_id": self.machine_id,
            "sensor": self.sensor,
            "rule": self.rule,
            "severity": self.severity,
            "value": self.value,
            "threshold": self.threshold,
            "ts": format_ts(self.ts_ms),
            "message": self.message,
            "plant": self.plant,
            "line": self.line,
            "by": self.by,
            "comment": self.comment,
            "seq": self.seq,
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def key(self) -> bytes:
        return self.alarm_id.encode()


def decode_alarm(data: bytes) -> AlarmEvent:
    try:
        obj = decode_object(data, "alarm")
        if obj["event"] not in _EVENTS:
            raise ContractError(f"event: unknown alarm event {obj['event']!r}")
        return AlarmEvent(
            alarm_id=str(obj["alarm_id"]),
            event=obj["event"],
            state=obj["state"],
            machine_id=str(obj["machine_id"]),
            sensor=str(obj["sensor"]),
            rule=str(obj["rule"]),
            severity=obj["severity"],
            value=float(obj["value"]),
            threshold=float(obj["threshold"]),
            ts_ms=parse_ts(obj["ts"]),
            message=str(obj["message"]),
            plant=str(obj.get("plant", "")),
            line=str(obj.get("line", "")),
            by=str(obj.get("by", "")),
            comment=str(obj.get("comment", "")),
            seq=int(obj.get("seq", 0)),
        )
    except KeyError as exc:
        raise ContractError(f"{exc.args[0]}: field required") from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ContractError):
            raise
        raise ContractError(f"alarm: {exc}") from exc
