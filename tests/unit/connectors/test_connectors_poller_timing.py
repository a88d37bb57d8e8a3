"""The poll loop's schedule: scans stay on a fixed grid; a late scan counts one overrun."""

from __future__ import annotations

import pytest

from connectors.modbus.schedule import next_deadline


@pytest.mark.parametrize(
    ("previous_s", "now_s", "expected"),
    [
        (10.0, 10.2, (11.0, 0)),
        (10.0, 11.0, (11.0, 0)),
        (10.0, 11.5, (12.0, 1)),
        (10.0, 14.2, (15.0, 1)),
    ],
)
def test_next_deadline_keeps_the_grid(
    previous_s: float, now_s: float, expected: tuple[float, int]
) -> None:
    assert next_deadline(previous_s, 1.0, now_s=now_s) == expected
