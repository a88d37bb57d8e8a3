"""Exception-response episodes: a register range of one machine answers every read and
write with a Modbus exception (e.g. ``slave_device_busy``) for some seconds.

An episode is written ``MACHINE:TABLE:ADDRESS[+COUNT]:CODE:START_S:DURATION_S[:EVERY_S]``,
e.g. ``42:holding:0+2:slave_device_busy:10:5:60`` (machine 42's holding registers 0-1
answer "busy" from 10 s after start for 5 s, again every 60 s). Pure: the simulator asks
:func:`exception_code` at each request. For coils and discrete inputs, pymodbus tells the
simulator only which 16-bit words a read spans, so a read is refused when it reaches the
words of the range (a write, whose bits are known, only when it overlaps the range).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

from connectors.config.register_types import Table
from contracts.errors import ConfigError

EXCEPTION_CODES: dict[str, int] = {
    "illegal_function": 1,
    "illegal_data_address": 2,
    "illegal_data_value": 3,
    "slave_device_failure": 4,
    "slave_device_busy": 6,
}
# Function code -> table it reads or writes.
TABLE_OF_FUNCTION: dict[int, Table] = {
    1: "coil",
    5: "coil",
    15: "coil",
    2: "discrete",
    3: "holding",
    6: "holding",
    16: "holding",
    4: "input",
}


@dataclass(frozen=True, slots=True)
class ExceptionEpisode:
    """``table`` ``address`` .. ``address + count - 1`` of ``machine_id`` answers with
    exception ``code`` from ``start_s`` for ``duration_s`` (every ``every_s`` if > 0)."""

    machine_id: str
    table: Table
    address: int
    count: int
    code: int
    start_s: float
    duration_s: float
    every_s: float = 0.0

    def active(self, now_s: float) -> bool:
        """Whether the episode runs at ``now_s`` (seconds since the simulator started)."""
        if now_s < self.start_s:
            return False
        since_s = now_s - self.start_s
        if self.every_s > 0:
            since_s = math.fmod(since_s, self.every_s)
        return since_s < self.duration_s

    def overlaps(self, table: Table, address: int, count: int) -> bool:
        return (
            table == self.table
            and address < self.address + self.count
            and self.address < address + count
        )


def parse_episode(text: str) -> ExceptionEpisode:
    """Parse ``MACHINE:TABLE:ADDRESS[+COUNT]:CODE:START_S:DURATION_S[:EVERY_S]``; raise
    :class:`ConfigError` naming the part that is wrong."""
    parts = text.split(":")
    if len(parts) not in (6, 7):
        raise ConfigError(
            f"exception episode {text!r}: expected "
            "MACHINE:TABLE:ADDRESS[+COUNT]:CODE:START_S:DURATION_S[:EVERY_S]"
        )
    machine_id, table, span, code_name, *times = parts
    if table not in get_args(Table):
        raise ConfigError(
            f"exception episode {text!r}: table: {table!r} is not one of "
            f"{', '.join(get_args(Table))}"
        )
    address_text, _, count_text = span.partition("+")
    try:
        address = int(address_text)
        count = int(count_text) if count_text else 1
    except ValueError:
        raise ConfigError(
            f"exception episode {text!r}: address: {span!r} is not ADDRESS or ADDRESS+COUNT"
        ) from None
    if not (0 <= address <= 65535 and 1 <= count <= 65536 - address):
        raise ConfigError(f"exception episode {text!r}: address: {span!r} is out of range")
    if code_name not in EXCEPTION_CODES:
        raise ConfigError(
            f"exception episode {text!r}: code: {code_name!r} is not one of "
            f"{', '.join(EXCEPTION_CODES)}"
        )
    try:
        numbers = [float(t) for t in times]
    except ValueError:
        raise ConfigError(
            f"exception episode {text!r}: START_S, DURATION_S and EVERY_S must be numbers"
        ) from None
    if any(not math.isfinite(n) or n < 0 for n in numbers) or numbers[1] <= 0:
        raise ConfigError(f"exception episode {text!r}: times must be >= 0 and DURATION_S > 0")
    return ExceptionEpisode(
        machine_id=machine_id,
        table=table,  # type: ignore[arg-type]
        address=address,
        count=count,
        code=EXCEPTION_CODES[code_name],
        start_s=numbers[0],
        duration_s=numbers[1],
        every_s=numbers[2] if len(numbers) == 3 else 0.0,
    )


def exception_code(
    episodes: Sequence[ExceptionEpisode],
    machine_id: str,
    *,
    function_code: int,
    address: int,
    count: int,
    now_s: float,
) -> int | None:
    """The exception a request of ``machine_id`` gets at ``now_s``, or ``None``.

    For coils and discrete inputs ``count`` is in bits."""
    table = TABLE_OF_FUNCTION.get(function_code)
    if table is None:
        return None
    for episode in episodes:
        if (
            episode.machine_id == machine_id
            and episode.overlaps(table, address, max(count, 1))
            and episode.active(now_s)
        ):
            return episode.code
    return None
