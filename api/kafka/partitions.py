"""Finding the partitions of topics without joining a consumer group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaClient, TopicPartition
from aiokafka.errors import KafkaError

from api.errors import StartupError


async def topic_partitions(
    bootstrap_servers: str, topics: Sequence[str], *, timeout_s: float
) -> list[TopicPartition]:
    """Every partition of ``topics``, waiting up to ``timeout_s`` for them to exist.

    Asks for the metadata of all topics, which never auto-creates one: the API does not
    create topics (``python -m infra`` does, with the right partitions and compaction),
    so a topic that does not appear in time is a start-up error naming it.
    """
    deadline = time.monotonic() + timeout_s
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, client_id="millstream-api-meta")
    try:
        await client.bootstrap()
        while True:
            try:
                cluster = await client.fetch_all_metadata()
            except KafkaError:
                cluster = None
            if cluster is not None:
                found = {t: cluster.partitions_for_topic(t) for t in topics}
                missing = [t for t, parts in found.items() if not parts]
                if not missing:
                    return [TopicPartition(t, p) for t in topics for p in sorted(found[t] or ())]
            else:
                missing = list(topics)
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"topic {missing[0]!r} does not exist on the Kafka cluster at "
                    f"{bootstrap_servers} (create the topics first: python -m infra bootstrap)"
                )
            await asyncio.sleep(0.5)
    finally:
        await client.close()
