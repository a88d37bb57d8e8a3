"""The storage batcher acks a batch's chunks only once its gate confirmed their mark, in a
task of its own: the writer goes on writing meanwhile, up to its bound of unacked lines."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from kafka_edge.retry import RetryPolicy
from pipeline.storage.batcher import UNACKED_BATCHES, StorageBatcher


class _NoPublisher:
    async def publish(self, topic, records):
        assert not records


class _Gate:
    def __init__(self) -> None:
        self.writes = 0
        self.asked: list[int] = []
        self.confirmed = asyncio.Event()

    def mark(self) -> int:
        return self.writes

    async def confirm(self, upto: int) -> None:
        self.asked.append(upto)
        await self.confirmed.wait()


class _Influx:
    """A bucket's write: keeps the lines written."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def write(self, lines: Sequence[str]) -> None:
        self.lines.extend(lines)


def _batcher(gate: _Gate, acked: list[str], *, batch_size: int = 1) -> StorageBatcher:
    return StorageBatcher(
        name="readings",
        publisher=_NoPublisher(),
        dead_letter_topic="dead",
        retry=RetryPolicy(initial_s=0.001, max_s=0.002),
        ack=lambda chunk: acked.append(chunk) is None,
        batch_size=batch_size,
        max_wait_ms=1_000,
        max_pending=1,
        gate=gate,
    )


async def _until(done: Callable[[], bool]) -> None:
    for _ in range(200):
        if done():
            return
        await asyncio.sleep(0.005)


def _tasks(*runs: Callable[[], Awaitable[None]]) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(run()) for run in runs]  # type: ignore[arg-type]


async def test_chunks_are_acked_only_once_the_gate_confirmed_the_mark_taken_when_added():
    acked: list[str] = []
    gate = _Gate()
    batcher = _batcher(gate, acked)
    tasks = _tasks(batcher.run_writer, batcher.run_acker)
    try:
        gate.writes = 7
        await batcher.add("chunk-1", [], [], primary=1)  # type: ignore[arg-type]
        gate.writes = 8  # a later write: not the batch's
        await _until(lambda: bool(gate.asked))
        assert gate.asked == [7]
        assert acked == []
        gate.confirmed.set()
        await _until(lambda: bool(acked))
        assert acked == ["chunk-1"]
        assert batcher.acked_chunks == 1
    finally:
        for task in tasks:
            task.cancel()


async def test_the_writer_goes_on_writing_while_acks_wait_for_the_gate_up_to_its_bound():
    acked: list[str] = []
    gate = _Gate()
    influx = _Influx()
    batcher = _batcher(gate, acked, batch_size=2)
    tasks = _tasks(batcher.run_writer, batcher.run_acker)
    bound_batches = UNACKED_BATCHES
    try:
        for n in range(bound_batches + 2):
            lines = [f"m{n}a", f"m{n}b"]
            adding = batcher.add(
                f"chunk-{n}",  # type: ignore[arg-type]
                [("readings", influx.write, lines, None)],
                [],
                primary=2,
            )
            await asyncio.wait_for(adding, timeout=1)
        await _until(lambda: len(influx.lines) >= 2 * bound_batches)
        # Every batch up to the bound is in InfluxDB though none is acked ...
        assert len(influx.lines) == 2 * bound_batches
        assert acked == []
        # ... and the writer waits there: the next batch is written once acks make room.
        await asyncio.sleep(0.05)
        assert len(influx.lines) == 2 * bound_batches
        gate.confirmed.set()
        await _until(lambda: len(acked) == bound_batches + 2)
        assert acked == [f"chunk-{n}" for n in range(bound_batches + 2)]
        assert len(influx.lines) == 2 * (bound_batches + 2)
    finally:
        for task in tasks:
            task.cancel()
