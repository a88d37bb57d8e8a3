"""The live feed's figures, as ``/metrics`` reports them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LiveStats:
    """What the live feed reports to ``/metrics``."""

    clients: int
    # Events fanned out to at least one client, by kind (``reading``, ``alarm``).
    frames: dict[str, int]
    clients_overflowed: int
    # Records of each topic the feed has not read yet.
    lag: dict[str, int]
