"""``GET /api/machines/{id}/readings?format=csv``: the points as the CSV ``millstream
import`` reads back (``machine_id,ts,<field>,...``, ``<sensor>_quality`` columns when a
value of the page has a quality other than good; one row per time, empty cells where a
point has no value)."""

from __future__ import annotations

import csv
import io
from typing import Any

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def readings_csv(machine_id: str, points: list[dict[str, Any]]) -> str:
    """The header row, then one row per point; columns sorted by name, so each
    ``<sensor>_quality`` column follows its sensor's."""
    columns = sorted({name for point in points for name in point if name != "ts"})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["machine_id", "ts", *columns])
    for point in points:
        writer.writerow([machine_id, point["ts"], *(_cell(point.get(c)) for c in columns)])
    return out.getvalue()
