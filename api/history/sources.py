"""Which bucket answers a readings query, and the Flux that reads the aggregates bucket.

The pipeline writes one-minute window statistics (``window=1m``: count, min, max, mean,
last, stddev per sensor) to the aggregates bucket. A query whose window is a whole number
of minutes, with a function those statistics combine into exactly, reads them instead of
the raw points: a 30-day range of a 1 Hz machine is 43,200 rows per sensor there rather
than 2.6 million. How they combine into a longer window:

- ``mean``: the sum of the minutes' sums over the sum of their counts (minutes written
  before the ``sum`` field existed count as mean x count);
- ``sum``: the sum of the minutes' sums; ``count``: the sum of the counts;
- ``min``: the least minimum; ``max``: the greatest maximum; ``last``: the last ``last``.

``median``, ``stddev``, ``first`` and ``spread`` are read from raw points. So are windows
shorter than a minute or not a whole number of minutes, and every query that does not
ask ``source=auto`` or ``source=aggregates``: the aggregates hold no reading that arrived
after its minute closed (imported history, an edge's backlog), so raw is the default. A
minute is in the aggregates bucket once its window closed (a few seconds after it ends),
and in the answer when its start lies in ``[start, stop)``.
"""

from __future__ import annotations

from typing import Final

from api.errors import InvalidInputError
from api.history.flux import flux_string, flux_time
from api.history.params import Duration, ReadingsQuery
from api.history.windowsums import UNSUMMED
from contracts.influx_schema import AGGREGATES

RAW: Final = "raw"
AGGREGATED: Final = "aggregates"
AUTO: Final = "auto"
SOURCES: Final = (AUTO, RAW, AGGREGATED)
PANE_MS: Final = 60_000
PANE_LABEL: Final = "1m"
# fn -> (the aggregates field it reads, the Flux function that combines it)
_SIMPLE: Final = {"min": ("min", "min"), "max": ("max", "max"), "last": ("last", "last")}
_SIMPLE_SUMMED: Final = {"count": ("count", "sum")}
# fns whose windows weigh each minute by its count: the sums and counts, combined apart.
WEIGHTED: Final = ("mean", "sum")
COMBINABLE: Final = frozenset((*_SIMPLE, *_SIMPLE_SUMMED, *WEIGHTED))


def pick_source(source: str | None, *, window: Duration | None, fn: str | None) -> str:
    """``raw`` or ``aggregates`` for the ``source`` parameter (``raw`` when unset).

    Unset means raw because the aggregates bucket lacks what its windows never held: readings
    that arrived after their minute closed (imported history, an edge's backlog) and the
    minute still open. ``auto`` reads the aggregates wherever they can answer."""
    wanted = RAW if source is None else source
    if wanted not in SOURCES:
        raise InvalidInputError(f"source: {wanted!r} is not one of {', '.join(SOURCES)}")
    if wanted == RAW:
        return RAW
    fits = window is not None and window.ms % PANE_MS == 0 and fn in COMBINABLE
    if fits:
        return AGGREGATED
    if wanted == AGGREGATED:
        raise InvalidInputError(
            "source: aggregates needs a window of whole minutes (e.g. 1m, 15m, 1h) and fn one"
            f" of {', '.join(sorted(COMBINABLE))}; leave source unset to read raw points"
        )
    return RAW


def _summed_minutes(every: str) -> list[str]:
    """Flux for ``mean`` or ``sum`` where every minute in range has its ``sum``, and a second
    result, ``unsummed``, that says whether one lacks it (written before the field existed).

    The minutes' sums: one read of the ``sum`` and ``count`` fields, summed per window by
    InfluxDB's storage engine (``aggregateWindow`` right after ``range`` and ``filter``),
    returned as they are, a table per sensor and field:
    :func:`api.history.windowsums.window_sums` sets them side by side, which costs the
    Flux engine most of its work when done there. ``unsummed``: one row, its column
    ``unsummed`` the count points less the sum points over the range. Both are yielded by
    one query, so InfluxDB reads them at the same time; when ``unsummed`` is not 0 the
    answer is :func:`unsummed_flux`'s instead.

    ``data`` is a function, so that each stream reads on its own: a stream two others
    share is read once and whole into the Flux engine, with no aggregate pushed down."""
    return [
        "data()",
        '  |> filter(fn: (r) => r._field == "count" or r._field == "sum")',
        "  |> count()",
        '  |> map(fn: (r) => ({unsummed: if r._field == "sum" then -r._value else r._value}))',
        "  |> group()",
        f'  |> sum(column: "{UNSUMMED}")',
        f'  |> yield(name: "{UNSUMMED}")',
        "data()",
        '  |> filter(fn: (r) => r._field == "sum" or r._field == "count")',
        f"  |> aggregateWindow(every: {every}, fn: sum, createEmpty: false)",
        '  |> keep(columns: ["_time", "sensor", "_field", "_value"])',
    ]


def _unsummed_minutes(fn: str, every: str) -> list[str]:
    """Flux for ``mean`` or ``sum`` where some minute lacks its ``sum``: each minute's
    ``sum``, or its mean x count, added up per window, which takes a pivot of every minute
    in the Flux engine, several times slower over long ranges."""
    value = "r.s" if fn == "sum" else "r.s / r.n"
    return [
        "windowed = (field, as) => data()",
        "  |> filter(fn: (r) => r._field == field)",
        f"  |> aggregateWindow(every: {every}, fn: sum, createEmpty: false)",
        "  |> toFloat()",
        '  |> set(key: "_field", value: as)',
        "weighted = data()",
        '  |> filter(fn: (r) => r._field == "mean" or r._field == "count" or r._field == "sum")',
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        "  |> map(fn: (r) => ({_time: r._time, sensor: r.sensor,",
        "    _value: if exists r.sum then r.sum else r.mean * float(v: r.count)}))",
        f"  |> aggregateWindow(every: {every}, fn: sum, createEmpty: false)",
        '  |> set(key: "_field", value: "s")',
        'union(tables: [weighted, windowed(field: "count", as: "n")])',
        '  |> keep(columns: ["_time", "sensor", "_field", "_value"])',
        "  |> group()",
        '  |> pivot(rowKey: ["_time", "sensor"], columnKey: ["_field"], valueColumn: "_value")',
        f"  |> map(fn: (r) => ({{_time: r._time, _field: r.sensor, _value: {value}}}))",
    ]


def _selection(query: ReadingsQuery, *, bucket: str) -> list[str]:
    """The machine's one-minute windows in range (of the asked sensors)."""
    lines = [
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {flux_time(query.start)}, stop: {flux_time(query.stop)})",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(AGGREGATES)}"
        f" and r.machine_id == {flux_string(query.machine_id)}"
        f" and r.window == {flux_string(PANE_LABEL)})",
    ]
    if query.fields is not None:
        matches = " or ".join(f"r.sensor == {flux_string(f)}" for f in query.fields)
        lines.append(f"  |> filter(fn: (r) => {matches})")
    return lines


def _combinable(query: ReadingsQuery) -> tuple[str, str]:
    """``(every, fn)`` of a query the one-minute statistics answer."""
    if not (query.window is not None and query.fn in COMBINABLE):
        raise RuntimeError("expected query.window is not None and query.fn in COMBINABLE")
    return query.window.flux(), str(query.fn)


def _pivoted(query: ReadingsQuery) -> list[str]:
    """One row per window end, one column per sensor, at most ``limit + 1`` rows."""
    return [
        "  |> group()",
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        '  |> sort(columns: ["_time"])',
        f"  |> limit(n: {query.limit + 1})",
    ]


def aggregated_flux(query: ReadingsQuery, *, bucket: str) -> str:
    """The same table :func:`api.history.flux.readings_flux` gives for a windowed query
    (``_time`` = window end, one column per sensor), from the one-minute statistics.

    For ``mean`` and ``sum`` (:data:`WEIGHTED`) it gives instead each sensor's windowed
    sums and counts, which :func:`api.history.windowsums.window_sums` makes that table,
    and the count of minutes without a sum (``unsummed``, read by
    :func:`api.history.windowsums.window_sums` too); where that is not 0,
    :func:`unsummed_flux` gives the table."""
    every, fn = _combinable(query)
    lines = _selection(query, bucket=bucket)
    if fn in WEIGHTED:
        return "\n".join(["data = () => " + lines[0], *lines[1:], *_summed_minutes(every)])
    field, combine = {**_SIMPLE, **_SIMPLE_SUMMED}[fn]
    lines += [
        f"  |> filter(fn: (r) => r._field == {flux_string(field)})",
        f"  |> aggregateWindow(every: {every}, fn: {combine}, createEmpty: false)",
        "  |> map(fn: (r) => ({_time: r._time, _field: r.sensor, _value: r._value}))",
    ]
    return "\n".join([*lines, *_pivoted(query)])


def unsummed_flux(query: ReadingsQuery, *, bucket: str) -> str:
    """:func:`aggregated_flux`'s table for ``mean`` or ``sum`` over minutes some of which
    lack their ``sum``."""
    every, fn = _combinable(query)
    if fn not in WEIGHTED:
        raise RuntimeError("expected query.fn to be mean or sum")
    lines = _selection(query, bucket=bucket)
    lines = ["data = () => " + lines[0], *lines[1:], *_unsummed_minutes(fn, every)]
    return "\n".join([*lines, *_pivoted(query)])
