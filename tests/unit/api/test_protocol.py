import pytest

from api.live.protocol import (
    Auth,
    Ping,
    Subscribe,
    Unsubscribe,
    parse_action,
    subscribed_frame,
    unsubscribed_frame,
)
from contracts.errors import ContractError


def test_seed_subscribe_message():
    action = parse_action(
        '{"action": "subscribe", "machine_id": 42,'
        ' "sensors": ["temperature", "vibration", "power"]}'
    )

    assert action == Subscribe(machine_id="42", sensors=("temperature", "vibration", "power"))
    assert subscribed_frame(action) == {
        "type": "subscribed",
        "machine_id": 42,
        "sensors": ["temperature", "vibration", "power"],
    }


def test_other_actions():
    assert parse_action(b'{"action": "subscribe", "machine_id": "press-7"}') == Subscribe(
        machine_id="press-7", sensors=()
    )
    assert parse_action('{"action": "unsubscribe", "machine_id": 42}') == Unsubscribe("42")
    assert parse_action('{"action": "unsubscribe"}') == Unsubscribe(None)
    assert parse_action('{"action": "ping"}') == Ping()
    assert parse_action('{"action": "auth", "api_key": "k"}') == Auth(api_key="k")
    assert unsubscribed_frame(Unsubscribe(None)) == {"type": "unsubscribed", "machine_id": None}


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ("not json", "message"),
        ("[1, 2]", "message"),
        ("{}", "action"),
        ('{"action": "dance"}', "action"),
        ('{"action": "subscribe"}', "machine_id"),
        ('{"action": "subscribe", "machine_id": true}', "machine_id"),
        ('{"action": "subscribe", "machine_id": 42, "sensors": "temperature"}', "sensors"),
        (r'{"action": "subscribe", "machine_id": 42, "sensors": ["ok", "Bad"]}', r"sensors\[1\]"),
        ('{"action": "auth"}', "api_key"),
    ],
)
def test_bad_messages_name_the_field(message, named):
    with pytest.raises(ContractError, match=f"^{named}: "):
        parse_action(message)
