import asyncio

import orjson
import pytest

from contracts.readings import Reading
from kafka_edge.retry import RetryPolicy
from pipeline.sink.errors import InfluxWriteError, SinkBackpressureError
from pipeline.storage.dead_letter import SourceRecord
from pipeline.storage.decoding import decode_records
from pipeline.storage.delivery import LineSet, PublishError, deliver, write_isolating

T0 = 1_766_241_000_000
FAST = RetryPolicy(initial_s=0.001, max_s=0.002)


def refused(status=400):
    return InfluxWriteError(
        "bucket t: refused", bucket="t", lines=1, status=status, outcome="refused"
    )


def unavailable():
    return InfluxWriteError("bucket t: down", bucket="t", lines=1, status=None, outcome="retryable")


def overloaded():
    return SinkBackpressureError(
        "bucket t: slow down",
        bucket="t",
        lines=1,
        status=429,
        outcome="backpressure",
        retry_after_s=0.01,
    )


class RecordingWriter:
    """Accepts lines unless a line contains a poison word; can fail the first N calls."""

    def __init__(self, *, poison="", fail_first=0, error=unavailable):
        self.error = error
        self.poison = poison
        self.fail_first = fail_first
        self.readings: list[str] = []
        self.alarms: list[str] = []
        self.calls = 0

    async def _write(self, into, lines):
        self.calls += 1
        if self.calls <= self.fail_first:
            raise self.error()
        if self.poison and any(self.poison in line for line in lines):
            raise refused()
        into.extend(lines)

    async def write_readings(self, lines):
        await self._write(self.readings, lines)

    async def write_alarms(self, lines):
        await self._write(self.alarms, lines)


class RecordingPublisher:
    def __init__(self, *, fail_first=0):
        self.fail_first = fail_first
        self.calls = 0
        self.sent: dict[str, list[tuple[bytes | None, bytes]]] = {}

    async def publish(self, topic, records):
        self.calls += 1
        if self.calls <= self.fail_first:
            raise PublishError(f"topic {topic}: broker down")
        self.sent.setdefault(topic, []).extend((r.key, r.value) for r in records)


def make_plan(temps, *, machine="42"):
    records = [
        SourceRecord(
            key=machine.encode(),
            value=Reading(
                machine_id=machine, ts_ms=T0 + i * 1000, values={"temperature_c": t}
            ).encode(),
            topic="ms.readings",
            partition=0,
            offset=i,
        )
        for i, t in enumerate(temps)
    ]
    records.append(
        SourceRecord(key=b"42", value=b"{}", topic="ms.readings", partition=0, offset=99)
    )
    return decode_records(records, now_ms=T0)


async def run(plan, writer, publisher, alarm_lines=()):
    return await deliver(
        [
            LineSet(writer.write_readings, list(plan.reading_lines), list(plan.sources), "r"),
            LineSet(writer.write_alarms, list(alarm_lines), None, "alarms"),
        ],
        plan.dead_letters,
        publisher=publisher,
        dead_letter_topic="ms.dead-letter",
        retry=FAST,
    )


async def test_writes_every_line_set_then_publishes_dead_letters():
    plan = make_plan([70.0, 86.0, 80.0])
    writer, publisher = RecordingWriter(), RecordingPublisher()
    dead = await run(plan, writer, publisher, alarm_lines=["alarms,a=1 v=1 1"])
    assert writer.readings == plan.reading_lines
    assert writer.alarms == ["alarms,a=1 v=1 1"]
    assert len(dead) == 1
    assert publisher.sent["ms.dead-letter"] == [(d.key, d.value) for d in dead]


async def test_transient_failures_are_retried_until_written():
    plan = make_plan([70.0, 86.0])
    writer, publisher = RecordingWriter(fail_first=3), RecordingPublisher(fail_first=2)
    await run(plan, writer, publisher)
    assert writer.readings == plan.reading_lines
    assert len(publisher.sent["ms.dead-letter"]) == 1


async def test_backpressure_waits_and_retries_until_written():
    plan = make_plan([70.0, 71.0])
    writer = RecordingWriter(fail_first=3, error=overloaded)
    publisher = RecordingPublisher()
    await run(plan, writer, publisher)
    assert writer.calls == 4
    assert writer.readings == plan.reading_lines


async def test_never_returns_while_influx_is_down_and_can_be_cancelled():
    plan = make_plan([70.0])
    writer, publisher = RecordingWriter(fail_first=10**9), RecordingPublisher()
    task = asyncio.ensure_future(run(plan, writer, publisher))
    await asyncio.sleep(0.2)
    assert not task.done()
    assert writer.calls > 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert publisher.sent == {}


async def test_refused_reading_is_isolated_and_dead_lettered():
    plan = make_plan([70.0, 71.0, 72.5, 73.0, 74.0])
    writer, publisher = RecordingWriter(poison="temperature_c=72.5"), RecordingPublisher()
    dead = await run(plan, writer, publisher)
    assert [line for line in plan.reading_lines if line not in writer.readings] == [
        plan.reading_lines[2]
    ]
    bodies = [orjson.loads(d.value) for d in dead]
    influx_dead = [b for b in bodies if b["stage"] == "influx"]
    assert len(influx_dead) == 1
    assert influx_dead[0]["source"]["offset"] == 2
    assert influx_dead[0]["reason"].startswith("influx: bucket t: refused")


async def test_write_isolating_reports_every_refused_index():
    lines = [f"l{i}" for i in range(9)]
    accepted = []

    async def write(batch):
        if any(line in ("l0", "l4", "l8") for line in batch):
            raise refused(422)
        accepted.extend(batch)

    result = await write_isolating(write, lines)
    assert [index for index, _ in result] == [0, 4, 8]
    assert sorted(accepted) == ["l1", "l2", "l3", "l5", "l6", "l7"]


async def test_write_isolating_propagates_errors_that_are_not_refusals():
    async def write(batch):
        raise unavailable()

    with pytest.raises(InfluxWriteError):
        await write_isolating(write, ["a", "b"])
