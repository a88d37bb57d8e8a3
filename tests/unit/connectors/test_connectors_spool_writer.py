"""The pollers' sink: readings are committed to the spool as their event loop turn ends,
so a ``kill -9`` after that turn loses none of them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from connectors.forwarding.forwarder import SpoolWriter
from connectors.forwarding.spool import Spool
from contracts.readings import Reading


def _reading(machine_id: str, seq: int) -> Reading:
    return Reading(
        machine_id=machine_id, ts_ms=1_700_000_000_000 + seq, values={"t_c": 1.0}, seq=seq
    )


def test_readings_of_one_turn_are_committed_together_before_the_next_turn(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_records=100)
    writer = SpoolWriter(spool, topic="readings")
    seen: list[int] = []

    async def main() -> None:
        writer(_reading("1", 1))
        writer(_reading("2", 1))
        seen.append(spool.depth)  # same turn: not committed yet
        await asyncio.sleep(0)
        seen.append(spool.depth)
        writer(_reading("1", 2))
        await asyncio.sleep(0)
        seen.append(spool.depth)

    asyncio.run(main())
    assert seen == [0, 2, 3]
    assert (writer.written, writer.commits) == (3, 2)
    assert spool.last_seqs() == {"1": 2, "2": 1}


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from connectors.forwarding.forwarder import SpoolWriter
    from connectors.forwarding.spool import Spool
    from contracts.readings import Reading

    async def main() -> None:
        writer = SpoolWriter(Spool(Path(sys.argv[1]), max_records=1_000_000), topic="r")
        seq = 0
        while True:
            for machine in ("a", "b"):
                seq_m = seq + 1
                writer(Reading(machine_id=machine, ts_ms=seq_m, values={"t_c": 1.0}, seq=seq_m))
            seq += 1
            await asyncio.sleep(0)  # the scan's turn ends; the next one starts
            print(seq, flush=True)  # seq is polled now

    asyncio.run(main())
    """
)


def test_kill_9_loses_no_reading_whose_turn_ended(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        polled = 0
        while polled < 300:
            line = child.stdout.readline()
            assert line, "the child ended early"
            polled = int(line)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
        # Lines printed between our last read and the kill were polled too.
        polled = max([polled, *(int(x) for x in child.stdout.read().split())])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    spool = Spool(path, max_records=1_000_000)
    last = spool.last_seqs()
    assert last["a"] >= polled and last["b"] >= polled
    for machine in ("a", "b"):
        seqs = [r.seq for r in spool.peek(after_id=0, limit=100_000) if r.machine_id == machine]
        assert seqs == list(range(1, last[machine] + 1)), machine
    spool.close()


class _Future:
    def add_callback(self, fn: object) -> None:
        pass

    def add_errback(self, fn: object) -> None:
        pass


class _Producer:
    """Takes every record and never acknowledges (the acknowledgements do not matter here)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, topic: str, *, key: bytes, value: bytes) -> _Future:
        self.sent += 1
        return _Future()


def test_the_forwarder_reads_the_spool_once_a_tick_not_once_a_loop_turn(
    tmp_path: Path,
) -> None:
    from connectors.forwarding.forwarder import Forwarder

    spool = Spool(tmp_path / "s.sqlite3", max_records=10_000)
    writer = SpoolWriter(spool, topic="readings")
    producer = _Producer()
    forwarder = Forwarder(spool, producer_factory=_Producer, max_in_flight=1_000_000)
    peeks = 0
    real_peek = spool.peek

    def counting_peek(*, after_id: int, limit: int) -> list:  # type: ignore[type-arg]
        nonlocal peeks
        peeks += 1
        return real_peek(after_id=after_id, limit=limit)

    spool.peek = counting_peek  # type: ignore[method-assign]

    async def main() -> int:
        await forwarder.start(producer)
        stop = asyncio.Event()
        task = asyncio.create_task(forwarder.run(stop))  # a tick of 10 ms
        turns = 0
        loop = asyncio.get_running_loop()
        end_s = loop.time() + 0.5
        while loop.time() < end_s:  # a busy loop: a reading every turn
            turns += 1
            writer(_reading("1", turns))
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)  # a few more ticks: the last readings are sent too
        stop.set()
        await task
        return turns

    turns = asyncio.run(main())
    assert producer.sent == turns  # every reading sent, in order, once
    assert turns > 200
    assert peeks <= 0.55 / 0.01 + 5  # not one per turn
