import orjson

from api.auth.roles import Identity, Role
from api.live.client import LiveClient
from api.live.frames import alarm_frame
from api.live.hub import LiveHub
from contracts.alarms import AlarmEvent
from contracts.readings import Reading

WHO = Identity(key_id="k", name="screen", role=Role.operator)


def _reading(machine_id: str = "42", **values: float) -> Reading:
    return Reading(machine_id=machine_id, ts_ms=1766241000000, values=values or {"power_kw": 1.0})


def _alarm(machine_id: str = "42") -> AlarmEvent:
    return AlarmEvent(
        alarm_id=f"{machine_id}:temperature_c:high",
        event="raised",
        state="active_unacknowledged",
        machine_id=machine_id,
        sensor="temperature_c",
        rule="high",
        severity="high",
        value=86.0,
        threshold=85.0,
        ts_ms=1766241000000,
        message="High temperature",
    )


def _frames(client: LiveClient) -> list[dict]:
    out = []
    while (frame := client.queue.pop()) is not None:
        out.append(orjson.loads(frame))
    return out


def test_readings_reach_only_subscribers_of_the_machine_cut_to_their_sensors():
    hub = LiveHub(queue_frames=10)
    temps, everything, other = hub.register(WHO), hub.register(WHO), hub.register(WHO)
    hub.subscribe(temps, "42", ("temperature",))
    hub.subscribe(everything, "42", ())
    hub.subscribe(other, "43", ())

    hub.publish_reading(_reading(temperature_c=68.1, power_kw=12.7))

    [cut] = _frames(temps)
    assert cut["temperature_c"] == 68.1
    assert "power_kw" not in cut
    assert _frames(everything)[0]["power_kw"] == 12.7
    assert _frames(other) == []
    assert hub.wants("42")
    assert not hub.wants("44")


def test_reading_without_subscribed_sensor_sends_nothing():
    hub = LiveHub(queue_frames=10)
    client = hub.register(WHO)
    hub.subscribe(client, "42", ("vibration",))

    hub.publish_reading(_reading(temperature_c=68.1))

    assert _frames(client) == []


def test_unsubscribe_and_unregister_stop_delivery():
    hub = LiveHub(queue_frames=10)
    a, b = hub.register(WHO), hub.register(WHO)
    hub.subscribe(a, "42", ())
    hub.subscribe(a, "43", ())
    hub.subscribe(b, "42", ())

    hub.unsubscribe(a, "42")
    hub.publish_reading(_reading("42"))
    hub.unregister(b)
    hub.publish_reading(_reading("42"))
    hub.unsubscribe(a, None)

    assert _frames(a) == []
    assert len(_frames(b)) == 1
    assert not hub.wants("42")
    assert not hub.wants("43")
    assert hub.client_count == 1


def test_alarms_go_to_subscribers_of_the_machine_whatever_their_sensors():
    hub = LiveHub(queue_frames=10)
    client = hub.register(WHO)
    hub.subscribe(client, "42", ("power",))

    hub.publish_alarm(_alarm())

    assert _frames(client) == [alarm_frame(_alarm())]


def test_slow_client_is_cut_off_on_alarm_overflow_without_hurting_others():
    hub = LiveHub(queue_frames=2)
    slow, fast = hub.register(WHO), hub.register(WHO)
    hub.subscribe(slow, "42", ())
    hub.subscribe(fast, "42", ())

    for _ in range(3):
        hub.publish_alarm(_alarm())
        _frames(fast)

    assert slow.overflow == "too slow: its queue is full of undelivered alarms"
    assert slow.wake.is_set()
    assert fast.overflow is None
    assert hub.client_count == 1
    assert hub.clients_overflowed == 1
    hub.publish_alarm(_alarm())
    assert len(_frames(fast)) == 1


def test_a_client_flooding_messages_is_cut_off_for_its_unread_replies():
    hub = LiveHub(queue_frames=2)
    flooder = hub.register(WHO)

    sent = [flooder.send({"type": "subscribed", "machine_id": 42}) for _ in range(3)]

    assert sent == [True, True, False]
    assert flooder.overflow == "too many messages: it sent faster than it read the replies"
    assert "alarm" not in flooder.overflow


def test_slow_client_skips_readings_but_keeps_alarms():
    hub = LiveHub(queue_frames=3)
    client = hub.register(WHO)
    hub.subscribe(client, "42", ())

    for i in range(5):
        hub.publish_reading(_reading(power_kw=float(i)))
    hub.publish_alarm(_alarm())

    frames = _frames(client)
    assert frames[0] == {"type": "dropped", "count": 3}
    assert [f["type"] for f in frames[1:]] == ["reading", "reading", "alarm"]
    assert [f["power_kw"] for f in frames[1:3]] == [3.0, 4.0]


def test_connections_of_counts_open_clients_per_credential_once():
    hub = LiveHub(queue_frames=4)
    other = Identity(key_id="other", name="script", role=Role.engineer)
    a, b, c = hub.register(WHO), hub.register(WHO), hub.register(other)
    assert (hub.connections_of("k"), hub.connections_of("other")) == (2, 1)
    hub.unregister(a)
    hub.unregister(a)  # a client cut off is unregistered again when its session ends
    assert (hub.connections_of("k"), hub.connections_of("other")) == (1, 1)
    hub.unregister(b)
    hub.unregister(c)
    assert (hub.connections_of("k"), hub.connections_of("other"), hub.client_count) == (0, 0, 0)
