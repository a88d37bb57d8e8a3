"""Login tokens and user records: pure code, no servers."""

import time

import jwt
import pytest

from api.auth.passwords import check_password_policy, hash_password, verify_password
from api.auth.roles import Identity, Role
from api.auth.tokens import TokenIssuer, looks_like_jwt
from api.auth.users import UserIndex, UserRecord, decode_user_record
from contracts.errors import ContractError

SECRET = "s" * 8 + "0123456789abcdefghijklmnopqrstuv"


def test_token_round_trip_and_claims():
    issuer = TokenIssuer(secret=SECRET, ttl_s=600)
    issued = issuer.issue(username="alice", user_id="u-1", token_version=3, now_s=int(time.time()))

    claims = issuer.decode(issued.token)

    assert claims is not None
    assert (claims.username, claims.user_id, claims.token_version) == ("alice", "u-1", 3)
    assert claims.expires_at_s - claims.issued_at_s == 600
    assert looks_like_jwt(issued.token)
    assert not looks_like_jwt("msk_" + "A" * 43)


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(
            {"sub": "a", "uid": "u", "ver": 0, "iat": 1, "exp": 2, "iss": "millstream-api"}, SECRET
        ),
        jwt.encode(
            {
                "sub": "a",
                "uid": "u",
                "ver": 0,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "iss": "millstream-api",
            },
            "another-secret-that-is-long-enough-to-sign",
        ),
        jwt.encode(
            {
                "sub": "a",
                "uid": "u",
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "iss": "millstream-api",
            },
            SECRET,
        ),
        jwt.encode(
            {
                "sub": "a",
                "uid": "u",
                "ver": 0,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "iss": "someone-else",
            },
            SECRET,
        ),
        jwt.encode(
            {
                "sub": "a",
                "ver": 0,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "iss": "millstream-api",
            },
            SECRET,
        ),
        "not.a.token",
    ],
    ids=["expired", "wrong-secret", "no-version", "wrong-issuer", "no-user-id", "garbage"],
)
def test_invalid_tokens_decode_to_none(token):
    assert TokenIssuer(secret=SECRET, ttl_s=600).decode(token) is None


def test_passwords_hash_with_argon2_and_verify():
    digest = hash_password("correct horse battery")

    assert digest.startswith("$argon2id$")
    assert verify_password(digest, "correct horse battery")
    assert not verify_password(digest, "correct horse battery!")
    assert not verify_password("not-a-hash", "x")
    with pytest.raises(ValueError, match="at least 12"):
        check_password_policy("short")


def _user(**changes):
    values = dict(
        username="alice",
        user_id="u-1",
        password_hash="$argon2id$v=19$x",
        role=Role.engineer,
        disabled=False,
        token_version=0,
        created="2025-12-20T14:30:00.000Z",
        updated="2025-12-20T14:30:00.000Z",
    )
    values.update(changes)
    return UserRecord(**values)


def test_user_record_round_trip_and_change_moves_the_version():
    record = _user()

    assert decode_user_record(record.encode()) == record
    changed = record.changed(updated="2025-12-21T00:00:00.000Z", disabled=True)
    assert changed.token_version == 1 and changed.disabled
    assert "password_hash" not in record.view()
    assert "user_id" not in record.view()


def test_a_record_from_before_user_ids_takes_its_creation_as_its_id():
    import orjson

    obj = _user().to_dict()
    del obj["user_id"]
    assert decode_user_record(orjson.dumps(obj)).user_id == "created:2025-12-20T14:30:00.000Z"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"role": "root"}, "role"),
        ({"disabled": "no"}, "disabled"),
        ({"token_version": True}, "token_version"),
        ({"username": "bad name"}, "username"),
    ],
)
def test_bad_user_records_name_the_field(patch, field):
    obj = {**_user().to_dict(), **patch}
    import orjson

    with pytest.raises(ContractError, match=field):
        decode_user_record(orjson.dumps(obj))


def test_user_index_applies_records_and_tombstones():
    index = UserIndex()
    index.apply(b"alice", _user().encode())
    index.apply(b"mallory", _user().encode())  # key does not match the record: ignored
    assert [r.username for r in index.records()] == ["alice"]
    index.apply(b"alice", None)
    assert index.get("alice") is None


def test_identity_principal_names_the_kind():
    key = Identity(key_id="3f9c", name="scada", role=Role.operator)
    user = Identity(key_id="user:alice", name="alice", role=Role.admin, method="user")

    assert (key.kind, key.principal) == ("api_key", "key:3f9c")
    assert (user.kind, user.principal) == ("user", "user:alice")


def test_users_table_applies_in_order_and_ignores_a_value_naming_another_user():
    alice = _user()
    users = UserIndex()
    users.apply(b"bob", alice.encode())
    assert len(users) == 0

    users.apply(b"alice", alice.encode())
    assert users.get("alice") == alice
    users.apply(b"alice", None)
    assert users.records() == []
