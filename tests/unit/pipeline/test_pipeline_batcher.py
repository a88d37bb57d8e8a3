"""The storage batcher acks a batch's chunks only after its ``before_ack`` returned."""

import asyncio

from kafka_edge.retry import RetryPolicy
from pipeline.storage.batcher import StorageBatcher


class _NoPublisher:
    async def publish(self, topic, records):
        assert not records


async def test_chunks_are_acked_only_after_before_ack_returns():
    acked: list[str] = []
    confirmed = asyncio.Event()
    waiting = asyncio.Event()

    async def before_ack() -> None:
        waiting.set()
        await confirmed.wait()

    batcher = StorageBatcher(
        name="readings",
        publisher=_NoPublisher(),
        dead_letter_topic="dead",
        retry=RetryPolicy(initial_s=0.001, max_s=0.002),
        ack=lambda chunk: acked.append(chunk) is None,
        batch_size=1,
        max_wait_ms=1_000,
        max_pending=1,
        before_ack=before_ack,
    )
    writer = asyncio.create_task(batcher.run_writer())
    try:
        await batcher.add("chunk-1", [], [], primary=1)  # type: ignore[arg-type]
        await asyncio.wait_for(waiting.wait(), timeout=5)
        await asyncio.sleep(0.01)
        assert acked == []
        confirmed.set()
        for _ in range(100):
            if acked:
                break
            await asyncio.sleep(0.01)
        assert acked == ["chunk-1"]
        assert batcher.acked_chunks == 1
    finally:
        writer.cancel()
