"""When each group of a device's tags is scanned: tags with the same poll interval form a
group, and each group is scanned on its own grid of that interval."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.modbus.scan import ReadRequest


@dataclass(slots=True)
class ScanGroup:
    """The read requests of the tags polled every ``interval_s``, and when they are due."""

    interval_s: float
    requests: tuple[ReadRequest, ...]
    names: tuple[str, ...]
    due_s: float = 0.0


def scan_groups(requests: tuple[ReadRequest, ...]) -> list[ScanGroup]:
    """The requests grouped by poll interval, shortest first."""
    by_interval: dict[float, list[ReadRequest]] = {}
    for request in requests:
        by_interval.setdefault(request.interval_s, []).append(request)
    return [
        ScanGroup(
            interval_s=interval,
            requests=tuple(reqs),
            names=tuple(r.name for req in reqs for r in req.registers),
        )
        for interval, reqs in sorted(by_interval.items())
    ]


def next_deadline(previous_s: float, interval_s: float, *, now_s: float) -> tuple[float, int]:
    """The next scan time on the ``interval_s`` grid after ``previous_s`` that is not
    already past, and 1 if the scan was late (it ended after its next slot), else 0.

    Missed slots are skipped, not caught up, and a late scan counts once however many
    slots it missed."""
    deadline = previous_s + interval_s
    if deadline >= now_s:
        return deadline, 0
    missed = int((now_s - deadline) // interval_s) + 1
    return deadline + missed * interval_s, 1
