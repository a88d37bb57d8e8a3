"""The counters of one device's poller, read by the statistics log, metrics and health."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class PollStats:
    """Counters of one device's poller."""

    scans: int = 0
    readings: int = 0
    skipped_scans: int = 0
    requests: int = 0
    refused_requests: int = 0
    transport_errors: int = 0
    unexpected_errors: int = 0
    connects: int = 0
    overruns: int = 0
    stale_episodes: int = 0
    not_finite_values: int = 0
    # Values published, by quality.
    values: dict[str, int] = field(default_factory=dict)
