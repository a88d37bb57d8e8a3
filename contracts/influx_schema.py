"""The InfluxDB schema: buckets, measurements, tag and field names.

The pipeline writes with these names and the API queries with them; analysts read the
same names in the README's Flux examples.

Buckets (named for what they hold; the names are settings, these are the defaults):

- ``telemetry`` (30 days): measurement ``readings``;
- ``aggregates`` (400 days): measurement ``aggregates``;
- ``alarms`` (400 days): measurement ``alarms``;
- ``audit`` (400 days): measurement ``audit``.

Timestamps are epoch milliseconds (``WritePrecision.MS``), except ``audit``, written in
nanoseconds by :func:`audit_time_ns` so that two requests in one millisecond stay two points.
"""

from __future__ import annotations

import zlib
from typing import Final

# The buckets' default names (``influx_bucket``, ``influx_aggregates_bucket``, ... in
# :class:`contracts.settings.CommonSettings`).
READINGS_BUCKET: Final = "telemetry"
AGGREGATES_BUCKET: Final = "aggregates"
ALARMS_BUCKET: Final = "alarms"
AUDIT_BUCKET: Final = "audit"

# readings,line=..,machine_id=..,plant=.. <sensor>=<float>,...,<sensor>_quality="bad" <ts_ms>
READINGS: Final = "readings"
READINGS_TAGS: Final = ("plant", "line", "machine_id")
# A string field ``<sensor>_quality`` is written only for values whose quality is not good.
QUALITY_SUFFIX: Final = "_quality"

# Columns every Flux result has besides ``_``-prefixed ones; ``time`` is the name line protocol
# and SQL give a point's timestamp. A field or tag may not take any of them.
FLUX_COLUMNS: Final = ("time", "result", "table")

# aggregates,line=..,machine_id=..,plant=..,sensor=..,window=1m count=..,min=..,max=..,
#   mean=..,last=..,stddev=..,sum=.. <window start ms>
# The sensor is a tag value here, so no sensor name can take a field's name; a field may
# not take a tag's name or a Flux column's (the API pivots fields into columns beside them).
# ``sum`` (the window's values added up) is newer than the others: older points lack it.
AGGREGATES: Final = "aggregates"
AGGREGATES_TAGS: Final = ("plant", "line", "machine_id", "sensor", "window")
AGGREGATES_FIELDS: Final = ("count", "min", "max", "mean", "last", "stddev", "sum")

# alarms,machine_id=..,plant=..,line=..,rule=..,sensor=..,severity=.. event="raised",
#   state="..",value=..,threshold=..,message=".." <ts_ms>
ALARMS: Final = "alarms"
ALARMS_TAGS: Final = ("plant", "line", "machine_id", "sensor", "rule", "severity")
ALARMS_FIELDS: Final = ("event", "state", "value", "threshold", "message", "by", "comment")
# Written only when not empty (an operator caused the event).
ALARMS_OPTIONAL_FIELDS: Final = ("by", "comment")

# audit,method=GET,principal=key:abc,status=200 path="/api/machines",role="operator",
#   latency_ms=1.2,client="127.0.0.1",request_id=".." <ts_ns>
AUDIT: Final = "audit"
AUDIT_TAGS: Final = ("principal", "method", "status")
AUDIT_FIELDS: Final = ("path", "role", "latency_ms", "client", "request_id")


def audit_time_ns(ts_ms: int, request_id: str) -> int:
    """A request's point time: its millisecond plus a stable sub-millisecond offset from its
    id, so a replay overwrites the same point and two requests never collide in practice."""
    return ts_ms * 1_000_000 + zlib.crc32(request_id.encode()) % 1_000_000
