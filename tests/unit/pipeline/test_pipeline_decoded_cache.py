"""DecodedReadings: what the storage path takes is exactly what it would have decoded."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from contracts.readings import Reading
from pipeline.storage.decoded_cache import DecodedReadings
from pipeline.storage.decoding import decode_records


@dataclass
class Record:
    offset: int
    value: bytes | None
    key: bytes = b"m"
    topic: str = "readings"
    partition: int = 0
    timestamp: int = 0


def reading(offset: int) -> Reading:
    return Reading(machine_id="m", ts_ms=1_000 + offset, values={"temperature_c": float(offset)})


def test_take_drops_older_offsets_and_misses_newer() -> None:
    cache = DecodedReadings()
    cache.put("readings", 0, [(5, reading(5)), (6, reading(6)), (8, reading(8))])
    assert cache.take("readings", 0, 4) is None
    assert cache.take("readings", 0, 6) == reading(6)
    assert cache.take("readings", 0, 7) is None
    assert len(cache) == 1
    assert cache.take("readings", 1, 8) is None


def test_bounded_and_a_seek_back_starts_over() -> None:
    cache = DecodedReadings(max_readings=3)
    cache.put("readings", 0, [(i, reading(i)) for i in range(10)])
    assert len(cache) == 3
    cache.put("readings", 0, [(1, reading(1))])
    assert len(cache) == 1 and cache.take("readings", 0, 1) == reading(1)


@given(
    kept=st.sets(st.integers(0, 40)),
    bad=st.sets(st.integers(0, 40)),
)
def test_storage_decode_with_the_cache_equals_without(kept: set[int], bad: set[int]) -> None:
    records = [Record(i, b"{not json" if i in bad else reading(i).encode()) for i in range(41)]
    cache = DecodedReadings()
    cache.put("readings", 0, [(i, reading(i)) for i in sorted(kept - bad)])
    with_cache = decode_records(records, now_ms=0, decoded=cache)
    plain = decode_records(records, now_ms=0)
    assert with_cache.readings == plain.readings
    assert with_cache.reading_lines == plain.reading_lines
    assert [d.value for d in with_cache.dead_letters] == [d.value for d in plain.dead_letters]
