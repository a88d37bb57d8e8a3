"""The user store: the users topic read to its end, followed, and written to."""

from __future__ import annotations

import functools
import logging
import secrets

from api.auth.passwords import hash_password, hash_password_async, verify_password_async
from api.auth.roles import Role
from api.auth.users import UserIndex, UserRecord
from api.kafka.producer import KafkaPublisher
from api.kafka.store import CompactedStore
from contracts.timefmt import format_ts, now_ms
from kafka_edge.connection import KafkaConnection
from kafka_edge.records import Record

logger = logging.getLogger(__name__)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a miss costs as much as a hit."""
    return hash_password(secrets.token_urlsafe(16))


class UserExistsError(Exception):
    pass


class UserStore(CompactedStore):
    """Every replica reads the whole topic, so a change made on one is seen by all."""

    def __init__(self, *, kafka: KafkaConnection, topic: str, publisher: KafkaPublisher) -> None:
        self._index = UserIndex()
        super().__init__(
            kafka=kafka,
            topic=topic,
            publisher=publisher,
            apply=self._index.apply,
        )

    async def start(self, *, timeout_s: float) -> None:
        await super().start(timeout_s=timeout_s)
        logger.info("users loaded topic=%s users=%d", self.topic, len(self._index))

    def get(self, username: str) -> UserRecord | None:
        return self._index.get(username)

    def records(self) -> list[UserRecord]:
        return self._index.records()

    def is_current(self, username: str, user_id: str, token_version: int) -> UserRecord | None:
        """The user if it exists, is the same user (``user_id``: not one created again under
        the name), is enabled and is still at ``token_version``; else ``None``."""
        record = self._index.get(username)
        if (
            record is None
            or record.user_id != user_id
            or record.disabled
            or record.token_version != token_version
        ):
            return None
        return record

    async def verify(self, username: str, password: str) -> UserRecord | None:
        """The enabled user with this password, or ``None`` (same cost either way)."""
        record = self._index.get(username)
        ok = await verify_password_async(
            record.password_hash if record else _dummy_hash(), password
        )
        if record is None or not ok or record.disabled:
            return None
        return record

    async def create(self, *, username: str, password: str, role: Role) -> UserRecord:
        if self._index.get(username) is not None:
            raise UserExistsError(username)
        stamp = format_ts(now_ms())
        record = UserRecord(
            username=username,
            user_id=secrets.token_urlsafe(12),
            password_hash=await hash_password_async(password),
            role=role,
            disabled=False,
            token_version=0,
            created=stamp,
            updated=stamp,
        )
        await self._publish(record)
        logger.info("user created username=%s role=%s", username, role)
        return record

    async def update(
        self,
        record: UserRecord,
        *,
        role: Role | None = None,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        """Apply the changes given; any change ends the tokens issued before it."""
        changes: dict[str, object] = {}
        if role is not None:
            changes["role"] = role
        if disabled is not None:
            changes["disabled"] = disabled
        if password is not None:
            changes["password_hash"] = await hash_password_async(password)
        if not changes:
            return record
        updated = record.changed(updated=format_ts(now_ms()), **changes)
        await self._publish(updated)
        logger.info(
            "user updated username=%s fields=%s", record.username, ",".join(sorted(changes))
        )
        return updated

    async def delete(self, username: str) -> bool:
        if self._index.get(username) is None:
            return False
        await self.write([Record(username.encode(), None)])
        logger.info("user deleted username=%s", username)
        return True

    async def ensure_admin(self, username: str, password: str) -> None:
        """Make ``username`` an enabled admin with ``password``, whatever the topic held."""
        record = self._index.get(username)
        if record is None:
            await self.create(username=username, password=password, role=Role.admin)
            return
        if (
            record.role is Role.admin
            and not record.disabled
            and await verify_password_async(record.password_hash, password)
        ):
            return
        await self.update(record, role=Role.admin, disabled=False, password=password)
        logger.info("bootstrap admin user restored username=%s", username)

    async def _publish(self, record: UserRecord) -> None:
        await self.write([Record(record.key(), record.encode())])
