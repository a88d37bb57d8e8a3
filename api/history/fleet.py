"""The newest value of every sensor of every machine (of one plant), in one query: what an
overview shows before its first live frame."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.flat import machine_id_json
from api.history.csvrows import points_from_csv
from api.history.flux import flux_string, flux_time
from contracts.influx_schema import READINGS

_TAGS = ("machine_id", "plant", "line")


def fleet_latest_flux(*, bucket: str, plant: str | None, start: datetime, stop: datetime) -> str:
    lines = [
        'import "types"',
        "",
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {flux_time(start)}, stop: {flux_time(stop)})",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(READINGS)})",
    ]
    if plant is not None:
        lines.append(f"  |> filter(fn: (r) => r.plant == {flux_string(plant)})")
    lines += [
        '  |> filter(fn: (r) => types.isType(v: r._value, type: "float")'
        ' or types.isType(v: r._value, type: "int"))',
        "  |> last()",
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        '  |> drop(columns: ["_start", "_stop", "_measurement"])',
        "  |> group()",
        '  |> sort(columns: ["_time"])',
    ]
    return "\n".join(lines)


def fleet_latest(text: str) -> list[dict[str, Any]]:
    """Rows of :func:`fleet_latest_flux` -> one entry per machine, sorted by machine id:
    ``{"machine_id", "plant", "line", "ts", "values": {sensor: {"value", "ts"}}}``."""
    machines: dict[str, dict[str, Any]] = {}
    for point in points_from_csv(text, tags=_TAGS):
        machine = point.pop("machine_id", "")
        ts = point.pop("ts")
        entry = machines.setdefault(
            machine,
            {
                "machine_id": machine_id_json(machine),
                "plant": "",
                "line": "",
                "ts": ts,
                "values": {},
            },
        )
        entry["plant"] = point.pop("plant", entry["plant"])
        entry["line"] = point.pop("line", entry["line"])
        entry["ts"] = max(entry["ts"], ts)
        for name, value in point.items():
            entry["values"][name] = {"value": value, "ts": ts}
    out = []
    for machine in sorted(machines, key=lambda m: (not m.isdecimal(), m.zfill(20))):
        entry = machines[machine]
        entry["values"] = dict(sorted(entry["values"].items()))
        out.append(entry)
    return out
