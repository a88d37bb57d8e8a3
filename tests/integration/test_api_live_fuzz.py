"""Hostile ``/live`` clients against the real API (on the real broker): Hypothesis sends
random and malformed frames, bad cursors, bursts of subscribes and over-long messages.

For every frame the server answers before the ``pong`` of a ``ping`` sent after it (it never
hangs); a frame that is not a valid action gets an ``error`` frame whose detail names the
field (``"<field>: ..."``); the only closes are the documented ones (``1009`` for a message
over the byte limit, ``1013`` for a client that sends faster than it reads). Meanwhile
another client's subscription keeps delivering readings, and the API keeps answering.

Bounded: ``MAX_EXAMPLES`` scenarios of at most ``MAX_FRAMES`` frames, each reply within
``REPLY_S``, the whole run within ``BUDGET_S``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from apiserver import ServerThread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from api.live.protocol import ACTIONS
from api.settings import ApiSettings

pytestmark = [
    pytest.mark.integration,
    # The server's Kafka client, in a thread of this process, draws on the global `random`
    # while Hypothesis generates a case (see test_api_schema.py).
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
    ),
]

MAX_EXAMPLES = 60
MAX_FRAMES = 6
MAX_MESSAGE_BYTES = 1_000
MAX_SUBSCRIPTIONS = 50
REPLY_S = 10.0
BUDGET_S = 90.0
DOCUMENTED_CLOSES = {1009, 1013}
PING = orjson.dumps({"action": "ping"}).decode()
WATCHED = "fuzz-watch"
_CLEAR = re.compile(r"[a-z_]+(?:\[\d+\])?: \S")


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(
        partitions=1,
        live_max_message_bytes=MAX_MESSAGE_BYTES,
        live_max_subscriptions=MAX_SUBSCRIPTIONS,
        live_queue_frames=64,
        live_max_connections_per_credential=1_000,
        rate_limit_write="100000/minute",
    )


# -- frames ----------------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=24),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_cursors = st.one_of(
    st.text(alphabet="0123456789:,-+ x", max_size=40),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(-5, 10**20)), min_size=1, max_size=5).map(
        lambda parts: ",".join(f"{p}:{o}" for p, o in parts)
    ),
)
_values = st.one_of(
    _json,
    _cursors,
    st.sampled_from(["42", "0042", "*", "", " ", "a" * 65, "42\n", "x:temperature_c:high"]),
    st.lists(st.sampled_from(["temperature_c", "Temp", "", "time", "a" * 70]), max_size=5),
)
_fields = (
    "machine_id", "sensors", "cursor", "plant", "interval_ms", "alarm_id", "comment",
    "request_id", "command", "target", "value", "api_key", "token",
)  # fmt: skip
_actions = st.fixed_dictionaries(
    {"action": st.sampled_from([*ACTIONS, "ping"])},
    optional={name: _values for name in _fields},
).map(json.dumps)


def _not_an_object(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), dict)
    except ValueError:
        return True


# Frames no server may take for an action: each must be answered with an error frame.
_garbage = st.one_of(
    st.text(max_size=200).filter(_not_an_object),
    _json.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
    st.dictionaries(st.text(max_size=10).filter(lambda k: k != "action"), _json, max_size=4).map(
        json.dumps
    ),
    st.text(min_size=1, max_size=20)
    .filter(lambda a: a not in ACTIONS)
    .map(lambda a: json.dumps({"action": a})),
    st.binary(max_size=100).map(lambda b: b"\xff" + b),
)
# Longer than the limit in bytes, in ASCII or in characters of 2 to 4 bytes.
_huge = st.one_of(
    st.integers(MAX_MESSAGE_BYTES + 1, 4 * MAX_MESSAGE_BYTES).map(lambda n: "x" * n),
    st.sampled_from(["é", "€", "𝄞"]).map(lambda c: c * (MAX_MESSAGE_BYTES // len(c.encode()) + 1)),
)
_bursts = st.integers(MAX_SUBSCRIPTIONS, 4 * MAX_SUBSCRIPTIONS).map(
    lambda n: [
        orjson.dumps({"action": "subscribe", "machine_id": f"flood-{i}"}).decode() for i in range(n)
    ]
)
_steps = st.one_of(
    st.tuples(st.just("garbage"), _garbage),
    st.tuples(st.just("action"), _actions),
    st.tuples(st.just("huge"), _huge),
    st.tuples(st.just("burst"), _bursts),
)


# -- one hostile client ----------------------------------------------------------------------


def _pings(frame: str | bytes) -> int:
    """1 if the server takes ``frame`` for a ping (it answers each with a pong)."""
    try:
        obj = json.loads(frame)
    except ValueError:
        return 0
    return int(isinstance(obj, dict) and obj.get("action") == "ping")


def _until_pong(ws: ClientConnection, pongs: int) -> list[dict[str, Any]]:
    """Every frame before the ``pongs``-th pong; ``TimeoutError`` if the server stays silent."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = orjson.loads(ws.recv(timeout=REPLY_S))
        if frame.get("type") == "pong":
            pongs -= 1
            if pongs == 0:
                return frames
        else:
            frames.append(frame)


def _size(frame: str | bytes) -> int:
    return len(frame.encode() if isinstance(frame, str) else frame)


def _play(ws: ClientConnection, kind: str, payload: Any) -> bool:
    """Send one step and check its answer; ``False`` once the server closed the socket. Any
    frame over the byte limit must close with 1009, whatever made it (a generated action
    of many escaped characters can be as long as a "huge" one)."""
    frames = payload if kind == "burst" else [payload]
    oversized = max(_size(f) for f in frames) > MAX_MESSAGE_BYTES
    try:
        for frame in frames:
            ws.send(frame)
        ws.send(PING)
        replies = _until_pong(ws, 1 + sum(_pings(f) for f in frames if kind == "action"))
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else None
        assert oversized or kind == "burst", f"{kind} {payload!r:.200} closed the socket: {code}"
        assert code in DOCUMENTED_CLOSES, f"{kind}: closed with {code}, not a documented close"
        if oversized:
            assert code == 1009, f"an over-long message closed with {code}, not 1009"
        return False
    assert not oversized, f"a message of {max(map(_size, frames))} bytes was not refused (1009)"
    errors = [f["detail"] for f in replies if f.get("type") == "error"]
    for detail in errors:
        assert isinstance(detail, str) and _CLEAR.match(detail), f"unclear error: {detail!r}"
    if kind == "garbage":
        assert errors, f"no error frame for {payload!r:.200}: {replies!r:.300}"
    return True


# -- the run ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def watcher(server: ServerThread, admin_key: str) -> Iterator[ClientConnection]:
    """A well-behaved client, subscribed to one machine for the whole module."""
    with connect(f"{server.ws_url}/live?api_key={admin_key}") as ws:
        ws.send(orjson.dumps({"action": "subscribe", "machine_id": WATCHED}).decode())
        assert orjson.loads(ws.recv(timeout=REPLY_S))["type"] == "subscribed"
        yield ws


def _reading_reaches(watcher: ClientConnection, server: ServerThread, key: str, n: int) -> None:
    posted = httpx.post(
        f"{server.url}/api/readings",
        headers={"X-API-Key": key},
        json={"machine_id": WATCHED, "fuzz_n": float(n)},
        timeout=REPLY_S,
    )
    assert posted.status_code == 201, posted.text
    deadline = time.monotonic() + REPLY_S
    while time.monotonic() < deadline:
        frame = orjson.loads(watcher.recv(timeout=deadline - time.monotonic()))
        if frame.get("type") == "reading" and frame.get("fuzz_n") == n:
            return
    raise AssertionError(f"the watcher did not receive reading {n}")


def test_hostile_frames_get_clear_errors_and_other_clients_keep_their_feed(
    server: ServerThread, admin_key: str, watcher: ClientConnection
) -> None:
    _reading_reaches(watcher, server, admin_key, 0)
    started = time.monotonic()
    played: list[str] = []

    @given(steps=st.lists(_steps, min_size=1, max_size=MAX_FRAMES))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def scenario(steps: list[tuple[str, Any]]) -> None:
        if time.monotonic() - started > BUDGET_S:
            return
        with connect(
            f"{server.ws_url}/live?api_key={admin_key}", max_size=None, open_timeout=REPLY_S
        ) as ws:
            for kind, payload in steps:
                played.append(kind)
                if not _play(ws, kind, payload):
                    break

    scenario()
    assert {"garbage", "action", "huge", "burst"} <= set(played), played
    assert httpx.get(f"{server.url}/health", timeout=REPLY_S).status_code == 200
    _reading_reaches(watcher, server, admin_key, 1)


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("garbage", ""),
        ("garbage", b""),
        ("garbage", json.dumps({"action": "subscribe", "machine_id": 2**70})),
        ("huge", "é" * (MAX_MESSAGE_BYTES // 2 + 1)),
        ("huge", "x" * (MAX_MESSAGE_BYTES + 1)),
    ],
    ids=["empty-text", "empty-binary", "huge-integer", "two-byte-characters", "ascii"],
)
def test_what_the_fuzz_found_stays_fixed(
    server: ServerThread, admin_key: str, kind: str, payload: str | bytes
) -> None:
    with connect(f"{server.ws_url}/live?api_key={admin_key}", max_size=None) as ws:
        _play(ws, kind, payload)
