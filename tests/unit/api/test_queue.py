import orjson
import pytest

from api.live.queue import FrameQueue


def _drain(queue: FrameQueue) -> list[bytes]:
    out = []
    while (frame := queue.pop()) is not None:
        out.append(frame)
    return out


def test_frames_leave_in_order():
    queue = FrameQueue(4)
    queue.put_reading(b"r1")
    assert queue.put_essential(b"a1")
    queue.put_reading(b"r2")

    assert _drain(queue) == [b"r1", b"a1", b"r2"]
    assert not queue


def test_full_queue_drops_the_oldest_reading_and_reports_the_count():
    queue = FrameQueue(3)
    for i in range(5):
        queue.put_reading(f"r{i}".encode())

    frames = _drain(queue)

    assert orjson.loads(frames[0]) == {"type": "dropped", "count": 2}
    assert frames[1:] == [b"r2", b"r3", b"r4"]
    assert queue.dropped_total == 2
    assert queue.pending_dropped == 0


def test_alarm_makes_room_by_dropping_a_reading():
    queue = FrameQueue(3)
    queue.put_essential(b"a1")
    queue.put_reading(b"r1")
    queue.put_reading(b"r2")

    assert queue.put_essential(b"a2")

    frames = _drain(queue)
    assert orjson.loads(frames[0]) == {"type": "dropped", "count": 1}
    assert frames[1:] == [b"a1", b"r2", b"a2"]


def test_reading_is_dropped_when_only_alarms_are_queued():
    queue = FrameQueue(2)
    queue.put_essential(b"a1")
    queue.put_essential(b"a2")

    queue.put_reading(b"r1")

    assert queue.pending_dropped == 1
    assert len(queue) == 2


def test_alarm_is_refused_when_the_queue_holds_only_alarms():
    queue = FrameQueue(2)
    assert queue.put_essential(b"a1")
    assert queue.put_essential(b"a2")

    assert not queue.put_essential(b"a3")
    assert _drain(queue) == [b"a1", b"a2"]


def test_capacity_must_hold_at_least_two_frames():
    with pytest.raises(ValueError, match="capacity"):
        FrameQueue(1)
