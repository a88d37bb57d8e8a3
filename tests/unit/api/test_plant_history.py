"""Which InfluxDB answers a history query: the server of the machine's plant, one plant's
server, or every server for a query of all plants; and readings posted without a plant
taking their machine's."""

from __future__ import annotations

from api.history.plants import PlantHistory
from api.history.reader import HistoryReader
from api.ingest import with_plants
from contracts.influx_servers import InfluxServer, PlantServer, PlantServers
from contracts.readings import Reading

DEFAULT = InfluxServer("http://127.0.0.1:8086", "o", "t")
PLANT_OF = {"1": "hall-a", "2": "hall-b", "3": "hall-z"}


def history() -> PlantHistory:
    plants = {
        "hall-a": PlantServer("http://192.0.2.1:8086"),
        "hall-b": PlantServer("http://192.0.2.2:8086"),
        "hall-c": PlantServer("http://192.0.2.1:8086"),
    }
    return PlantHistory(
        PlantServers.of(DEFAULT, plants, {}),
        lambda s: HistoryReader(url=s.url, token=s.token, org=s.org, bucket="b", timeout_s=1),
        lambda machine_id: PLANT_OF.get(machine_id, ""),
    )


def url(reader: HistoryReader) -> str:
    return reader._url


def test_a_machines_history_is_read_from_its_plants_server() -> None:
    h = history()
    assert url(h.for_machine("1")) == "http://192.0.2.1:8086"
    assert url(h.for_machine("2")) == "http://192.0.2.2:8086"
    # A plant not in the map, and a machine the registry does not know: the default.
    assert h.for_machine("3") is h.for_machine("unknown") is h.default
    assert url(h.default) == DEFAULT.url


def test_plants_sharing_a_server_share_its_reader() -> None:
    h = history()
    assert h.for_plant("hall-a") is h.for_plant("hall-c")
    assert len(h.all) == 3


def test_a_query_of_every_plant_asks_every_server_once() -> None:
    h = history()
    assert h.of() == h.all
    assert h.of(plant="hall-b") == (h.for_plant("hall-b"),)
    assert h.of(plant="hall-a", machine_id="2") == (h.for_machine("2"),)


def test_a_reading_without_a_plant_takes_its_machines() -> None:
    readings = [
        Reading(machine_id="1", ts_ms=1, values={"t": 1.0}),
        Reading(machine_id="2", ts_ms=1, values={"t": 1.0}, plant="hall-x"),
        Reading(machine_id="9", ts_ms=1, values={"t": 1.0}),
    ]
    got = with_plants(readings, lambda m: PLANT_OF.get(m, ""))
    assert [r.plant for r in got] == ["hall-a", "hall-x", ""]
    assert got[1] is readings[1] and got[2] is readings[2]


async def _echo(flux: str) -> str:
    return flux


async def test_the_answers_of_several_servers_are_joined_in_order() -> None:
    h = history()
    each = {h.all[0]: "1,5", h.all[1]: "2,3", h.all[2]: "4"}  # each server's rows in order
    for reader in h.all:
        reader._query_raw = _echo  # type: ignore[method-assign]

    def parse(text: str) -> list[int]:
        return [int(n) for n in text.split(",")]

    joined = await h.query_each(h.all, each.__getitem__, parse, order=lambda n: n)
    assert joined == [1, 2, 3, 4, 5]
    newest_first = await h.query_each(
        h.all, each.__getitem__, parse, order=lambda n: n, newest_first=True
    )
    assert newest_first == [5, 4, 3, 2, 1]
    # One server's answer is already in order: taken as it comes.
    assert await h.query_each((h.all[0],), lambda _: "5,1", parse, order=lambda n: n) == [5, 1]
