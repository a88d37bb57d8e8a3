"""Points sorted by the InfluxDB of their plant, and one server away not holding the
other servers' lines of the same batch."""

from __future__ import annotations

import asyncio
import dataclasses

from contracts.alarms import AlarmEvent
from contracts.influx_servers import InfluxServer, PlantServer, PlantServers
from contracts.readings import Reading
from kafka_edge.retry import RetryPolicy
from pipeline.sink.errors import InfluxWriteError
from pipeline.sink.influx import InfluxSink
from pipeline.sink.plants import PlantSinks
from pipeline.storage.dead_letter import SourceRecord
from pipeline.storage.delivery import LineSet, deliver
from pipeline.storage.line_protocol import alarm_line, reading_line
from pipeline.storage.routing import entries

DEFAULT = InfluxServer("http://127.0.0.1:8086", "o", "t")
FAST = RetryPolicy(initial_s=0.001, max_s=0.005)


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list = []

    async def publish(self, topic, records) -> None:
        self.sent.extend(records)


def sinks(plants: dict[str, str]) -> PlantSinks:
    servers = PlantServers.of(DEFAULT, {p: PlantServer(url) for p, url in plants.items()}, {})
    return PlantSinks(
        servers,
        lambda s: InfluxSink(
            url=s.url, token=s.token, org=s.org, readings_bucket="r", alarms_bucket="a"
        ),
    )


def reading(machine: str, plant: str) -> Reading:
    return Reading(machine_id=machine, ts_ms=1_000, values={"t": 1.0}, plant=plant)


def test_readings_go_to_their_plants_server_and_the_rest_to_the_default() -> None:
    routed = sinks({"hall a": "http://192.0.2.1:8086", "hall,b": "http://192.0.2.2:8086"})
    readings = [
        reading("1", "hall a"),
        reading("2", "hall,b"),
        reading("3", ""),
        reading("4", "hall a"),
        reading("5", "elsewhere"),
    ]
    lines = [reading_line(r) for r in readings]
    sources = [f"record-{r.machine_id}" for r in readings]
    got = entries(
        routed,
        "readings",
        lambda s: s.write_readings,
        lines,
        sources,
        plants=[r.plant for r in readings],
    )
    by_url = {what: (list(ls), list(src or ())) for what, _, ls, src in got}
    assert by_url == {
        "readings http://192.0.2.1:8086": ([lines[0], lines[3]], ["record-1", "record-4"]),
        "readings http://192.0.2.2:8086": ([lines[1]], ["record-2"]),
        "readings http://127.0.0.1:8086": ([lines[2], lines[4]], ["record-3", "record-5"]),
    }
    # The same split read from the lines' plant tags (aggregates and alarm rows).
    by_tag = entries(routed, "readings", lambda s: s.write_readings, lines, sources)
    assert {what: list(ls) for what, _, ls, _ in by_tag} == {k: v[0] for k, v in by_url.items()}


def test_alarm_rows_follow_their_plant_tag() -> None:
    routed = sinks({"hall-a": "http://192.0.2.1:8086"})
    event = AlarmEvent(
        alarm_id="a1",
        machine_id="1",
        sensor="t",
        rule="high",
        severity="high",
        event="raised",
        state="active_unacknowledged",
        value=1.0,
        threshold=0.5,
        message="m",
        ts_ms=1_000,
        plant="hall-a",
        line="l",
    )
    lines = [alarm_line(event), alarm_line(dataclasses.replace(event, plant=""))]
    got = entries(routed, "alarms", lambda s: s.write_alarms, lines, ["e1", "e2"])
    assert [(what, list(ls), src) for what, _, ls, src in got] == [
        ("alarms http://192.0.2.1:8086", [lines[0]], ["e1"]),
        ("alarms http://127.0.0.1:8086", [lines[1]], ["e2"]),
    ]


def test_one_server_keeps_the_batch_as_it_was() -> None:
    single = sinks({})
    lines = [reading_line(reading("1", "hall-a"))]
    [(what, write, got, sources)] = entries(
        single, "readings", lambda s: s.write_readings, lines, ["r"]
    )
    assert (what, got, sources) == ("readings", lines, ["r"])
    assert write == single.default.write_readings


async def test_a_server_away_does_not_hold_the_other_servers_lines() -> None:
    written: list[str] = []

    async def away(lines):
        raise InfluxWriteError(
            "down", bucket="r", lines=len(lines), status=None, outcome="retryable"
        )

    async def up(lines):
        written.extend(lines)

    task = asyncio.ensure_future(
        deliver(
            [LineSet(away, ["a 1"], None, "readings a"), LineSet(up, ["b 1"], None, "readings b")],
            [],
            publisher=RecordingPublisher(),
            dead_letter_topic="dl",
            retry=FAST,
        )
    )
    await asyncio.sleep(0.2)
    assert written == ["b 1"]
    assert not task.done()  # the batch waits for the server that is away
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_point_one_server_refuses_is_dead_lettered_and_the_others_are_stored() -> None:
    stored: dict[str, list[str]] = {"a": [], "b": []}

    def server(name: str):
        async def write(lines):
            if any("poison" in line for line in lines):
                raise InfluxWriteError(
                    "bucket r: field type conflict",
                    bucket="r",
                    lines=len(lines),
                    status=422,
                    outcome="refused",
                )
            stored[name].extend(lines)

        return write

    source = SourceRecord(key=b"1", value=b"{}", topic="ms.readings", partition=0, offset=7)
    publisher = RecordingPublisher()
    dead = await deliver(
        [
            LineSet(server("a"), ["a 1", "a poison 2", "a 3"], [source, source, source], "a"),
            LineSet(server("b"), ["b 1", "b 2"], [source, source], "b"),
        ],
        [],
        publisher=publisher,
        dead_letter_topic="dl",
        retry=FAST,
    )
    assert stored == {"a": ["a 1", "a 3"], "b": ["b 1", "b 2"]}
    assert len(dead) == len(publisher.sent) == 1
    assert b"field type conflict" in dead[0].value
