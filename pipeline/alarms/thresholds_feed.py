"""Feeding the rule set from the compacted thresholds topic, in every worker.

Every worker needs every threshold (a machine's readings may land on any worker), so this
is a plain aiokafka consumer with no consumer group, reading all partitions from the start
and then following them. A Faust ``GlobalTable`` would do the same through a changelog
topic of its own, which the API does not write; reading the thresholds topic directly
keeps one source of truth and a short poll (``fetch_max_wait_ms``), so a ``PATCH`` is in
force well within a second.

``ready`` is set once the records present at start-up are applied, so the first readings
are evaluated with the configured rules rather than the defaults alone.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.errors import ContractError
from contracts.thresholds import decode_thresholds, parse_thresholds_key
from kafka_edge.aio_clients import aio_observer
from kafka_edge.connection import KafkaConnection
from kafka_edge.retry import RetryPolicy, poll_until, retry_async
from pipeline.alarms.ruleset import RuleSet

logger = logging.getLogger(__name__)

# Restarting the consumer after an error: 1 s, doubling to 10 s, jittered; afresh after a
# minute of following without one. No deadline: the rules in force stay meanwhile.
FOLLOW_RETRY = RetryPolicy(initial_s=1.0, max_s=10.0)
# Waiting for aiokafka to assign the topic's partitions after subscribing.
ASSIGNMENT_WAIT = RetryPolicy.fixed(0.05, deadline_s=10.0)


def apply_record(rules: RuleSet, key: bytes | None, value: bytes | None) -> str | None:
    """Apply one thresholds record; return why it was ignored, or None."""
    if key is None:
        return "key: missing (expected '<machine_id>/<sensor>')"
    try:
        machine_id, sensor = parse_thresholds_key(key)
        if not value:
            rules.delete(machine_id, sensor)
            return None
        record = decode_thresholds(value)
    except ContractError as exc:
        return str(exc)
    if (record.machine_id, record.sensor) != (machine_id, sensor):
        return (
            f"key: {key.decode(errors='replace')!r} does not match the record's "
            f"{record.machine_id}/{record.sensor}"
        )
    rules.put(record)
    return None


async def _caught_up(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return False
    return True


class ThresholdsFeed:
    def __init__(
        self,
        rules: RuleSet,
        *,
        kafka: KafkaConnection,
        topic: str,
        poll_ms: int = 100,
        ready: asyncio.Event | None = None,
    ) -> None:
        self.rules = rules
        self.ready = ready if ready is not None else asyncio.Event()
        self.ignored = 0
        self._kafka = kafka
        self._topic = topic
        self._poll_ms = poll_ms

    async def run(self) -> None:
        """Follow the topic until cancelled; restart the consumer after an error."""

        def log(exc: BaseException, attempt: int, pause_s: float) -> None:
            logger.error(
                "thresholds feed failed topic=%s attempt=%d retry_in_s=%.2f error=%r",
                self._topic,
                attempt,
                pause_s,
                exc,
            )

        await retry_async(
            self._follow,
            policy=FOLLOW_RETRY,
            what=f"thresholds feed {self._topic}",
            on_retry=log,
            healthy_after_s=60.0,
        )

    async def _follow(self) -> None:
        # Subscribed without a group: aiokafka assigns every partition of the topic.
        consumer = aio_observer(self._kafka, self._topic, fetch_max_wait_ms=self._poll_ms)
        await consumer.start()
        try:
            partitions = await _assigned(consumer, self._topic)
            end = await consumer.end_offsets(partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=self._poll_ms, max_records=10_000)
                for records in batches.values():
                    for message in records:
                        reason = apply_record(self.rules, message.key, message.value)
                        if reason is not None:
                            self.ignored += 1
                            logger.warning(
                                "thresholds record ignored partition=%d offset=%d reason=%s",
                                message.partition,
                                message.offset,
                                reason,
                            )
                if not self.ready.is_set() and await _caught_up(consumer, end):
                    logger.info(
                        "thresholds loaded topic=%s records=%d", self._topic, len(self.rules)
                    )
                    self.ready.set()
        finally:
            await consumer.stop()


async def _assigned(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    async def assignment() -> list[TopicPartition] | None:
        return sorted(consumer.assignment()) or None

    partitions = await poll_until(assignment, policy=ASSIGNMENT_WAIT)
    if partitions is None:
        raise ContractError(f"topic {topic}: no partitions found")
    return partitions
