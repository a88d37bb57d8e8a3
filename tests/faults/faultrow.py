"""One row of the fault report, and the one way every row counts what it measured.

Every reading carries its machine's ``seq`` (1, 2, 3, ...) and every alarm event its
alarm's ``seq``; a row is counted by those numbers: what was produced, what arrived (on a
topic, in InfluxDB), what is missing (lost) and what arrived more than once (duplicated).
Imported as ``from faultrow import Row`` (pytest puts this directory on ``sys.path``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# ``make faults`` sets it: the full outages instead of the short ones of ``make test``.
FULL = os.environ.get("MILLSTREAM_FAULTS_FULL", "") == "1"


def seconds(ci: float, full: float) -> float:
    """How long a fault lasts: ``full`` under ``make faults``, ``ci`` under ``make test``;
    ``MILLSTREAM_FAULTS_SCALE`` multiplies either."""
    return (full if FULL else ci) * float(os.environ.get("MILLSTREAM_FAULTS_SCALE", "1"))


@dataclass(slots=True)
class SeqCount:
    """Readings (or alarm events) counted by sequence number."""

    produced: int
    arrived: int
    lost: int
    duplicated: int
    lost_examples: list[Any] = field(default_factory=list)
    duplicated_examples: list[Any] = field(default_factory=list)


def count_seqs(
    produced: Mapping[str, Iterable[int]], arrived: Iterable[tuple[str, int]]
) -> SeqCount:
    """``produced``: every seq handed out, per key (machine or alarm); ``arrived``: every
    (key, seq) found, repeats included. Arrivals of keys or seqs never produced count as
    neither lost nor duplicated (they belong to something else)."""
    wanted = {(k, s) for k, seqs in produced.items() for s in seqs}
    seen = Counter(item for item in arrived if item in wanted)
    lost = sorted(wanted - set(seen))
    dups = sorted(item for item, n in seen.items() if n > 1)
    return SeqCount(
        produced=len(wanted),
        arrived=len(seen),
        lost=len(lost),
        duplicated=sum(seen[item] - 1 for item in dups),
        lost_examples=lost[:5],
        duplicated_examples=dups[:5],
    )


def upto(last_seqs: Mapping[str, int]) -> dict[str, range]:
    """Every seq from 1 to each machine's last one (a connector's spool records the last)."""
    return {machine: range(1, last + 1) for machine, last in last_seqs.items()}


@dataclass(slots=True)
class Row:
    test: str
    fault: str = ""
    injected: str = ""
    expected: str = ""
    measured: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    status: str = "not run"
    error: str = ""
    duration_s: float = 0.0

    def describe(self, fault: str, injected: str, expected: str) -> None:
        self.fault, self.injected, self.expected = fault, injected, expected

    def readings(self, stored: SeqCount, *, in_topic: SeqCount | None = None) -> None:
        """The readings' figures: produced, stored, lost, duplicated. Duplicates are counted
        on the readings topic when it is given (``in_topic``): InfluxDB keeps one point per
        machine and timestamp, so a reading written twice cannot show there."""
        self.measured.update(
            produced=stored.produced,
            stored=stored.arrived,
            lost=stored.lost,
            duplicated=None if in_topic is None else in_topic.duplicated,
        )
        for what, c in (("stored", stored), ("topic", in_topic)):
            if c is not None and (c.lost or c.duplicated):
                self.notes.append(
                    f"{what}: lost e.g. {c.lost_examples}, duplicated e.g. {c.duplicated_examples}"
                )

    def alarms(self, count: SeqCount) -> None:
        self.measured.update(
            alarms=count.produced, alarms_lost=count.lost, alarms_duplicated=count.duplicated
        )

    def recovered(self, seconds_: float) -> None:
        self.measured["recover_s"] = round(seconds_, 1)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def to_json(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "fault": self.fault,
            "injected": self.injected,
            "expected": self.expected,
            "measured": self.measured,
            "notes": self.notes,
            "status": self.status,
            "error": self.error,
            "duration_s": round(self.duration_s, 1),
            "full": FULL,
        }
