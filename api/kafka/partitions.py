"""Finding the partitions of topics without joining a consumer group."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from api.errors import StartupError
from kafka_edge.aio_clients import aio_client
from kafka_edge.connection import KafkaConnection
from kafka_edge.retry import RetryPolicy, retry_async


class _TopicsMissing(Exception):
    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"topics not there yet: {', '.join(missing)}")
        self.missing = missing


async def topic_partitions(
    kafka: KafkaConnection, topics: Sequence[str], *, timeout_s: float
) -> list[TopicPartition]:
    """Every partition of ``topics``, waiting up to ``timeout_s`` for them to exist.

    Asks for the metadata of all topics, which never auto-creates one: the API does not
    create topics (``python -m infra`` does, with the right partitions and compaction),
    so a topic that does not appear in time is a start-up error naming it.
    """
    client = aio_client(kafka, client_id="millstream-api-meta")

    async def lookup() -> list[TopicPartition]:
        try:
            cluster = await client.fetch_all_metadata()
        except KafkaError as exc:
            raise _TopicsMissing(list(topics)) from exc
        found = {t: cluster.partitions_for_topic(t) for t in topics}
        missing = [t for t, parts in found.items() if not parts]
        if missing:
            raise _TopicsMissing(missing)
        return [TopicPartition(t, p) for t in topics for p in sorted(found[t] or ())]

    try:
        await client.bootstrap()
        return await retry_async(
            lookup,
            policy=RetryPolicy(initial_s=0.1, max_s=0.5, deadline_s=timeout_s),
            what="kafka topic lookup",
            retry_on=(_TopicsMissing,),
            on_retry=lambda *_: None,  # waiting for a topic to appear is expected
        )
    except _TopicsMissing as exc:
        raise StartupError(
            f"topic {exc.missing[0]!r} does not exist on the Kafka cluster at "
            f"{kafka.servers} (create the topics first: python -m infra bootstrap)"
        ) from None
    finally:
        await client.close()
