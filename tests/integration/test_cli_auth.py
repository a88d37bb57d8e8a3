"""The credentials `millstream` takes, against the real API: a user's password (read from
stdin, exchanged at /api/auth/login), the login token itself, and refusals that say what
to do."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from apiserver import ServerThread

from api.settings import ApiSettings

pytestmark = pytest.mark.integration

MILLSTREAM = Path(sys.executable).with_name("millstream")
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings()


def millstream(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MILLSTREAM), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )


def _login(url: str, user: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        answer = httpx.post(
            f"{url}/api/auth/login", json={"username": user, "password": PASSWORD}, timeout=20
        )
        if answer.status_code == 200:
            return str(answer.json()["token"])
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)


def test_user_password_and_token_work_and_bad_ones_are_refused(
    server: ServerThread, admin_key: str
) -> None:
    made = httpx.post(
        f"{server.url}/api/users",
        json={"username": "ana", "password": PASSWORD, "role": "operator"},
        headers={"X-API-Key": admin_key},
        timeout=20,
    )
    assert made.status_code == 201, made.text
    token = _login(server.url, "ana")
    machine = f"auth-{uuid.uuid4().hex[:8]}"  # no readings: the answer is known
    query = ["query", machine, "--format", "json", "--url", server.url]

    by_password = millstream(*query, "--user", "ana", "--password-stdin", stdin=PASSWORD + "\n")
    assert by_password.returncode == 0, by_password.stderr
    assert orjson.loads(by_password.stdout)["machine_id"] == machine

    by_token = millstream(*query, "--token", token)
    assert by_token.returncode == 0, by_token.stderr
    assert orjson.loads(by_token.stdout)["points"] == []

    wrong = millstream(*query, "--user", "ana", "--password-stdin", stdin="wrong password\n")
    assert wrong.returncode == 1
    assert "login as 'ana' refused: HTTP 401" in wrong.stderr

    bad_key = millstream(*query, "--api-key", "sk_prod_not_a_key")
    assert bad_key.returncode == 1
    assert "HTTP 401" in bad_key.stderr

    nothing = millstream(*query)
    assert nothing.returncode == 1
    assert "no credential: pass --api-key" in nothing.stderr
