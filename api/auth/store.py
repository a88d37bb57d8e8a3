"""The API-key store: the api-keys topic read to its end, followed, and written to."""

from __future__ import annotations

import logging

from api.auth.index import KeyIndex
from api.auth.keys import ApiKeyRecord, MintedKey, bootstrap_admin_record, mint_key
from api.auth.roles import Identity, Role
from api.kafka.producer import KafkaPublisher
from api.kafka.store import CompactedStore
from contracts.timefmt import now_ms
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record

logger = logging.getLogger(__name__)


class ApiKeyStore(CompactedStore):
    """Authenticates secrets against the keys on the topic; mints and revokes keys."""

    def __init__(self, *, kafka: KafkaConnection, topic: str, publisher: KafkaPublisher) -> None:
        self._index = KeyIndex()
        super().__init__(
            kafka=kafka,
            topic=topic,
            publisher=publisher,
            apply=self._index.apply,
        )

    async def start(self, *, timeout_s: float, admin_secret: str | None = None) -> None:
        await super().start(timeout_s=timeout_s)
        if admin_secret is not None:
            await self.ensure_admin(admin_secret)
        logger.info("api keys loaded topic=%s keys=%d", self.topic, len(self._index))

    def authenticate(self, secret: str) -> Identity | None:
        return self._index.authenticate(secret)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        return self._index.get(key_id)

    def records(self) -> list[ApiKeyRecord]:
        return self._index.records()

    async def ensure_admin(self, secret: str) -> None:
        """Make ``secret`` a valid admin key, whatever earlier runs left on the topic."""
        if self._index.is_admin_secret(secret):
            return
        record = bootstrap_admin_record(secret, created_ms=now_ms())
        await self._publish(record)
        logger.info("bootstrap admin key published key_id=%s topic=%s", record.key_id, self.topic)

    async def create(self, *, name: str, role: Role) -> MintedKey:
        """Mint, publish and return a new key; its secret is not kept anywhere."""
        minted = mint_key(name=name, role=role, created_ms=now_ms())
        await self._publish(minted.record)
        logger.info("api key created key_id=%s name=%s role=%s", minted.record.key_id, name, role)
        return minted

    async def revoke(self, key_id: str) -> bool:
        if self._index.get(key_id) is None:
            return False
        await self.write([Record(key_id.encode(), None)])
        logger.info("api key revoked key_id=%s", key_id)
        return True

    async def _publish(self, record: ApiKeyRecord) -> None:
        await self.write([Record(record.key(), record.encode())])
