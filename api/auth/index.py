"""The in-memory view of the api-keys topic: key id -> record, plus a digest index."""

from __future__ import annotations

from api.auth.keys import ApiKeyRecord, decode_key_record, digests_equal, hash_secret
from api.auth.roles import Identity, Role
from api.kafka.compacted import decode_keyed


class KeyIndex:
    """Applies api-keys records in offset order and answers "which key is this secret?".

    Lookups go through a dict keyed by the SHA-256 of the secret (so a request costs one
    hash, not one comparison per key); the final check is ``hmac.compare_digest``.
    """

    def __init__(self) -> None:
        self._by_id: dict[str, ApiKeyRecord] = {}
        self._by_digest: dict[str, ApiKeyRecord] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        return self._by_id.get(key_id)

    def records(self) -> list[ApiKeyRecord]:
        return sorted(self._by_id.values(), key=lambda r: r.key_id)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the topic; ``value=None`` is a tombstone that revokes the key."""
        record = decode_keyed(
            key, value, decode=decode_key_record, key_of=lambda r: r.key_id, what="api key"
        )
        if record is None:
            return
        if record.value is None:
            self.remove(record.key)
        else:
            self.put(record.value)

    def put(self, record: ApiKeyRecord) -> None:
        self.remove(record.key_id)
        self._by_id[record.key_id] = record
        self._by_digest[record.sha256] = record

    def remove(self, key_id: str) -> None:
        old = self._by_id.pop(key_id, None)
        if old is not None and self._by_digest.get(old.sha256) is old:
            del self._by_digest[old.sha256]

    def authenticate(self, secret: str) -> Identity | None:
        digest = hash_secret(secret)
        record = self._by_digest.get(digest)
        if record is None or not digests_equal(record.sha256, digest):
            return None
        return Identity(key_id=record.key_id, name=record.name, role=record.role)

    def is_admin_secret(self, secret: str) -> bool:
        identity = self.authenticate(secret)
        return identity is not None and identity.role is Role.admin
