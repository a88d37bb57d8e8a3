"""The in-memory view of the api-keys topic: key id -> record, plus a digest index."""

from __future__ import annotations

from api.auth.keys import ApiKeyRecord, decode_key_record, digests_equal, hash_secret
from api.auth.roles import Identity, Role
from api.kafka.keyed import KeyedTable, text_key


class KeyIndex(KeyedTable[str, ApiKeyRecord]):
    """Applies api-keys records in offset order and answers "which key is this secret?".

    Lookups go through a dict keyed by the SHA-256 of the secret (so a request costs one
    hash, not one comparison per key); the final check is ``hmac.compare_digest``.
    """

    def __init__(self) -> None:
        # A tombstone revokes the key.
        super().__init__(
            parse_key=text_key, decode=decode_key_record, key_of=lambda r: r.key_id, what="api key"
        )
        self._by_digest: dict[str, ApiKeyRecord] = {}

    def records(self) -> list[ApiKeyRecord]:
        return sorted(self.values(), key=lambda r: r.key_id)

    def put(self, value: ApiKeyRecord) -> None:
        self.remove(value.key_id)
        super().put(value)
        self._by_digest[value.sha256] = value

    def remove(self, key: str) -> None:
        old = self.get(key)
        super().remove(key)
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
