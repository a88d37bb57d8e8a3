"""The storage batcher acks a batch's chunks only once its gate confirmed their mark."""

import asyncio

from kafka_edge.retry import RetryPolicy
from pipeline.storage.batcher import StorageBatcher


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


async def test_chunks_are_acked_only_once_the_gate_confirmed_the_mark_taken_when_added():
    acked: list[str] = []
    gate = _Gate()
    batcher = StorageBatcher(
        name="readings",
        publisher=_NoPublisher(),
        dead_letter_topic="dead",
        retry=RetryPolicy(initial_s=0.001, max_s=0.002),
        ack=lambda chunk: acked.append(chunk) is None,
        batch_size=1,
        max_wait_ms=1_000,
        max_pending=1,
        gate=gate,
    )
    writer = asyncio.create_task(batcher.run_writer())
    try:
        gate.writes = 7
        await batcher.add("chunk-1", [], [], primary=1)  # type: ignore[arg-type]
        gate.writes = 8  # a later write: not the batch's
        for _ in range(100):
            if gate.asked:
                break
            await asyncio.sleep(0.01)
        assert gate.asked == [7]
        assert acked == []
        gate.confirmed.set()
        for _ in range(100):
            if acked:
                break
            await asyncio.sleep(0.01)
        assert acked == ["chunk-1"]
        assert batcher.acked_chunks == 1
    finally:
        writer.cancel()
