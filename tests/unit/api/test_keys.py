import hashlib

import orjson
import pytest

from api.auth.index import KeyIndex
from api.auth.keys import (
    BOOTSTRAP_ADMIN_KEY_ID,
    ApiKeyRecord,
    bootstrap_admin_record,
    decode_key_record,
    hash_secret,
    mint_key,
)
from api.auth.roles import Role
from contracts.errors import ContractError


def test_secret_hash_is_hex_sha256():
    assert hash_secret("sk_prod_a1b2c3d4") == hashlib.sha256(b"sk_prod_a1b2c3d4").hexdigest()


def test_minted_key_has_prefix_and_record_without_secret():
    minted = mint_key(name="scada-line-3", role=Role.engineer, created_ms=1766241000000)

    assert minted.secret.startswith("msk_")
    assert len(minted.secret) > 40
    assert minted.record.sha256 == hash_secret(minted.secret)
    assert minted.record.created == "2025-12-20T14:30:00.000Z"
    assert minted.secret not in repr(minted)
    assert minted.secret.encode() not in minted.record.encode()
    assert minted.record.matches(minted.secret)
    assert not minted.record.matches(minted.secret + "x")


def test_two_mints_differ():
    a = mint_key(name="a", role=Role.operator, created_ms=0)
    b = mint_key(name="a", role=Role.operator, created_ms=0)

    assert a.secret != b.secret
    assert a.record.key_id != b.record.key_id


def test_record_round_trips_through_the_wire_format():
    record = mint_key(name="hmi", role=Role.admin, created_ms=0).record

    wire = orjson.loads(record.encode())

    assert set(wire) == {"key_id", "sha256", "role", "name", "created"}
    assert decode_key_record(record.encode()) == record


@pytest.mark.parametrize(
    ("patch", "named"),
    [
        ({"role": "root"}, "role"),
        ({"sha256": "abc"}, "sha256"),
        ({"key_id": "has space"}, "key_id"),
        ({"name": ""}, "name"),
        ({"created": None}, "created"),
    ],
)
def test_bad_records_name_the_field(patch, named):
    wire = orjson.loads(mint_key(name="x", role=Role.operator, created_ms=0).record.encode())
    wire.update(patch)

    with pytest.raises(ContractError, match=f"^{named}: "):
        decode_key_record(orjson.dumps(wire))


def _apply(index: KeyIndex, record: ApiKeyRecord | None, key_id: str | None = None) -> None:
    key = (key_id or (record.key_id if record else "")).encode()
    index.apply(key, None if record is None else record.encode())


def test_index_authenticates_replaces_and_revokes():
    index = KeyIndex()
    minted = mint_key(name="scada", role=Role.engineer, created_ms=0)

    _apply(index, minted.record)
    identity = index.authenticate(minted.secret)
    assert identity is not None
    assert (identity.key_id, identity.name, identity.role) == (
        minted.record.key_id,
        "scada",
        Role.engineer,
    )
    assert identity.source == "api:scada"
    assert index.authenticate("msk_wrong") is None

    rotated = mint_key(name="scada", role=Role.operator, created_ms=0)
    replacement = ApiKeyRecord(
        key_id=minted.record.key_id,
        sha256=rotated.record.sha256,
        role=Role.operator,
        name="scada",
        created=rotated.record.created,
    )
    _apply(index, replacement)
    assert index.authenticate(minted.secret) is None
    assert index.authenticate(rotated.secret) is not None

    _apply(index, None, key_id=minted.record.key_id)
    assert index.authenticate(rotated.secret) is None
    assert len(index) == 0


def test_index_ignores_garbage_and_mismatched_keys():
    index = KeyIndex()
    minted = mint_key(name="x", role=Role.admin, created_ms=0)

    index.apply(b"k1", b"not json")
    index.apply(None, minted.record.encode())
    index.apply(b"other-id", minted.record.encode())

    assert len(index) == 0
    assert index.authenticate(minted.secret) is None


def test_bootstrap_admin_record():
    index = KeyIndex()
    record = bootstrap_admin_record("sk_prod_a1b2c3d4", created_ms=0)

    assert record.key_id == BOOTSTRAP_ADMIN_KEY_ID
    assert not index.is_admin_secret("sk_prod_a1b2c3d4")
    index.put(record)
    assert index.is_admin_secret("sk_prod_a1b2c3d4")


def test_roles_are_ordered():
    assert Role.admin.at_least(Role.engineer)
    assert Role.engineer.at_least(Role.engineer)
    assert Role.engineer.at_least(Role.operator)
    assert not Role.operator.at_least(Role.engineer)
    assert not Role.engineer.at_least(Role.admin)
