"""Overview subscriptions: latest reading per machine, coalesced per group and interval."""

import asyncio

import orjson
import pytest

from api.auth.roles import Identity, Role
from api.live.client import LiveClient
from api.live.hub import LiveHub
from api.live.protocol import SubscribeOverview, UnsubscribeOverview, parse_action
from contracts.errors import ContractError
from contracts.readings import Reading

WHO = Identity(key_id="k", name="screen", role=Role.operator)


def _reading(machine_id: str, plant: str, ts_ms: int = 1766241000000, **values: float) -> Reading:
    return Reading(
        machine_id=machine_id,
        ts_ms=ts_ms,
        values=values,
        plant=plant,
        line="3",
        quality={"power_kw": "uncertain"} if "power_kw" in values else {},
    )


def _frames(client: LiveClient) -> list[dict]:
    out = []
    while (frame := client.queue.pop()) is not None:
        out.append(orjson.loads(frame))
    return out


def test_parse_overview_actions():
    assert parse_action('{"action": "subscribe_overview"}') == SubscribeOverview(
        plant=None, interval_ms=1000, sensors=()
    )
    assert parse_action(
        '{"action": "subscribe_overview", "plant": "north", "interval_ms": 250,'
        ' "sensors": ["temperature"]}'
    ) == SubscribeOverview(plant="north", interval_ms=250, sensors=("temperature",))
    assert parse_action('{"action": "unsubscribe_overview"}') == UnsubscribeOverview()


@pytest.mark.parametrize("interval", ["1000", 249, 60_001, True, 1.5])
def test_bad_interval_is_named(interval):
    message = orjson.dumps({"action": "subscribe_overview", "interval_ms": interval})
    with pytest.raises(ContractError, match="interval_ms: must be an integer from 250 to 60000"):
        parse_action(message)


async def test_snapshot_then_only_changed_machines_once_per_flush():
    hub = LiveHub(queue_frames=50)
    client = hub.register(WHO)
    assert not hub.wants("42")
    hub.overviews.join(client, None, 60_000, ())
    assert hub.wants("42")  # the feed decodes every machine's readings now
    [snapshot] = _frames(client)
    assert snapshot["snapshot"] is True and snapshot["machines"] == []

    hub.publish_reading(_reading("42", "north", temperature_c=60.0))
    hub.publish_reading(_reading("42", "north", ts_ms=1766241001000, temperature_c=61.0))
    hub.publish_reading(_reading("7", "south", power_kw=3.0))
    assert _frames(client) == []  # nothing before the interval ends
    [group] = list(hub.overviews._groups.values())
    hub.overviews.flush(group)

    [frame] = _frames(client)
    assert frame["type"] == "overview" and frame["snapshot"] is False
    by_id = {m["machine_id"]: m for m in frame["machines"]}
    assert by_id[42]["temperature_c"] == 61.0  # coalesced: the last reading wins
    assert by_id[42]["plant"] == "north" and by_id[42]["line"] == "3"
    assert by_id[7]["quality"] == {"power_kw": "uncertain"}
    assert "type" not in by_id[42]

    hub.overviews.flush(group)
    assert _frames(client) == []  # nothing changed since
    hub.unregister(client)
    assert not hub.overviews.active
    await asyncio.sleep(0)


async def test_plant_and_sensor_filters_and_shared_groups():
    hub = LiveHub(queue_frames=50)
    north_a, north_b, everything = hub.register(WHO), hub.register(WHO), hub.register(WHO)
    hub.publish_reading(_reading("42", "north", temperature_c=60.0, power_kw=2.0))
    hub.overviews.join(north_a, "north", 60_000, ("temperature",))
    hub.overviews.join(north_b, "north", 60_000, ("temperature",))
    hub.overviews.join(everything, None, 60_000, ())
    assert len(hub.overviews._groups) == 2
    # The cache started with the first overview: readings before it are not known.
    assert _frames(north_a)[0]["machines"] == []
    assert _frames(north_b)[0]["snapshot"] and _frames(everything)[0]["snapshot"]

    hub.publish_reading(_reading("42", "north", temperature_c=62.0, power_kw=2.0))
    hub.publish_reading(_reading("8", "south", temperature_c=50.0))
    hub.publish_reading(_reading("9", "north", power_kw=1.0))  # no subscribed sensor
    for group in list(hub.overviews._groups.values()):
        hub.overviews.flush(group)

    [frame_a] = _frames(north_a)
    [frame_b] = _frames(north_b)
    assert frame_a == frame_b
    assert [m["machine_id"] for m in frame_a["machines"]] == [42]
    assert "power_kw" not in frame_a["machines"][0]
    assert "quality" not in frame_a["machines"][0]
    [every] = _frames(everything)
    assert sorted(m["machine_id"] for m in every["machines"]) == [8, 9, 42]

    # A late joiner's snapshot holds what the group sees now.
    late = hub.register(WHO)
    hub.overviews.join(late, "north", 1000, ())
    [snap] = _frames(late)
    assert sorted(m["machine_id"] for m in snap["machines"]) == [9, 42]
    for client in (north_a, north_b, everything, late):
        hub.unregister(client)
    assert not hub.overviews.active


async def test_timer_sends_without_a_flush_call():
    hub = LiveHub(queue_frames=50)
    client = hub.register(WHO)
    hub.overviews.join(client, None, 250, ())
    _frames(client)
    hub.publish_reading(_reading("42", "north", temperature_c=60.0))
    await asyncio.sleep(0.6)
    frames = _frames(client)
    assert len(frames) == 1 and frames[0]["machines"][0]["machine_id"] == 42
    await hub.overviews.close()
