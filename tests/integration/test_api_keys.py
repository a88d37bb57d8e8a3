"""The API-key store on a real compacted topic: bootstrap admin, minting, revoking, restarts."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from aiokafka.admin import NewTopic

from api.auth.keys import BOOTSTRAP_ADMIN_KEY_ID
from api.auth.roles import Role
from api.auth.store import ApiKeyStore
from api.errors import StartupError
from api.kafka.producer import KafkaPublisher
from kafka_edge.aio_clients import aio_admin
from kafka_edge.connection import KafkaConnection

pytestmark = pytest.mark.integration

StoreFactory = Callable[..., AbstractAsyncContextManager[ApiKeyStore]]


@pytest.fixture
async def keys_topic(kafka_bootstrap: str) -> str:
    """A fresh compacted topic, so the bootstrap admin key of other tests is left alone."""
    name = f"test-api-keys-{uuid.uuid4().hex[:10]}"
    admin = aio_admin(KafkaConnection.plain(kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, 1, 1, topic_configs={"cleanup.policy": "compact"})]
        )
    finally:
        await admin.close()
    return name


@pytest.fixture
async def store_factory(kafka_bootstrap: str, keys_topic: str) -> AsyncIterator[StoreFactory]:
    publisher = KafkaPublisher(kafka=KafkaConnection.plain(kafka_bootstrap), produce_timeout_s=10.0)
    await publisher.start()

    @asynccontextmanager
    async def running(admin_secret: str | None = None) -> AsyncIterator[ApiKeyStore]:
        store = ApiKeyStore(
            kafka=KafkaConnection.plain(kafka_bootstrap), topic=keys_topic, publisher=publisher
        )
        await store.start(timeout_s=20.0, admin_secret=admin_secret)
        try:
            yield store
        finally:
            await store.stop()

    try:
        yield running
    finally:
        await publisher.stop()


async def test_admin_key_is_restored_whatever_earlier_runs_left(
    store_factory: StoreFactory,
) -> None:
    first, second = "sk_prod_" + secrets.token_hex(8), "sk_prod_" + secrets.token_hex(8)

    async with store_factory(first) as store:
        assert store.authenticate(first) is not None
        assert await store.revoke(BOOTSTRAP_ADMIN_KEY_ID)
        assert store.authenticate(first) is None

    async with store_factory() as store:
        assert store.authenticate(first) is None  # the tombstone was read back

    async with store_factory(first) as store:
        identity = store.authenticate(first)
        assert identity is not None
        assert identity.role is Role.admin

    async with store_factory(second) as store:
        assert store.authenticate(second) is not None
        assert store.authenticate(first) is None  # the configured key replaces the old one


async def test_minted_key_survives_a_restart_and_revocation_too(
    store_factory: StoreFactory,
) -> None:
    async with store_factory() as store:
        minted = await store.create(name="scada-line-3", role=Role.engineer)
        assert minted.secret.startswith("msk_")

    async with store_factory() as store:
        identity = store.authenticate(minted.secret)
        assert identity is not None
        assert (identity.name, identity.role) == ("scada-line-3", Role.engineer)
        assert minted.secret not in repr(store.records())
        await store.revoke(minted.record.key_id)

    async with store_factory() as store:
        assert store.authenticate(minted.secret) is None


async def test_missing_topic_is_a_startup_error_naming_it(kafka_bootstrap: str) -> None:
    publisher = KafkaPublisher(kafka=KafkaConnection.plain(kafka_bootstrap), produce_timeout_s=5.0)
    store = ApiKeyStore(
        kafka=KafkaConnection.plain(kafka_bootstrap),
        topic="no-such-topic-for-keys",
        publisher=publisher,
    )

    with pytest.raises(StartupError, match="no-such-topic-for-keys"):
        await store.start(timeout_s=1.0)
