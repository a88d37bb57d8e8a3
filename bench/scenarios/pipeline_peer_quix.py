"""The peer of :mod:`bench.scenarios.pipeline_throughput`: the same windowed aggregation in
Quix Streams, run in its own virtual environment (``.venv-peer``).

Usage: ``python pipeline_peer_quix.py BOOTSTRAP TOPIC COUNT TIMEOUT_S``; prints one JSON
line ``{"points_per_s": ..., "records": ...}``. Per machine and sensor it keeps count, sum,
sum of squares, min, max and last over a 1-minute tumbling window and a 5-minute window
hopping every minute, as the pipeline worker does; it writes nothing to InfluxDB.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from typing import Any

from quixstreams import Application  # type: ignore[import-not-found]

SENSORS = ("temperature_c", "pressure_bar", "vibration_mm_s", "power_kw", "speed_rpm")


def _initial() -> dict[str, Any]:
    return {}


def _reducer(agg: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    for name, v in value["values"].items():
        s = agg.get(name)
        if s is None:
            agg[name] = [1, v, v * v, v, v, v]
        else:
            s[0] += 1
            s[1] += v
            s[2] += v * v
            if v < s[3]:
                s[3] = v
            if v > s[4]:
                s[4] = v
            s[5] = v
    return agg


def main() -> int:
    bootstrap, topic_name, count_s, timeout_s = sys.argv[1:5]
    count = int(count_s)
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"bench-quix-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        state_dir=tempfile.mkdtemp(prefix="quix-state-"),
        use_changelog_topics=True,
    )
    topic = app.topic(
        topic_name, value_deserializer="json", key_deserializer="str", timestamp_extractor=None
    )
    sdf = app.dataframe(topic)
    seen = {"n": 0, "first": 0.0, "last": 0.0}

    def count_it(value: dict[str, Any]) -> dict[str, Any]:
        if seen["n"] == 0:
            seen["first"] = time.perf_counter()
        seen["n"] += 1
        if seen["n"] >= count:
            seen["last"] = time.perf_counter()
            app.stop()
        return value

    sdf = sdf.apply(count_it)
    sdf.tumbling_window(duration_ms=60_000, grace_ms=5_000).reduce(
        reducer=_reducer, initializer=lambda v: _reducer(_initial(), v)
    ).final()
    sdf.hopping_window(duration_ms=300_000, step_ms=60_000, grace_ms=5_000).reduce(
        reducer=_reducer, initializer=lambda v: _reducer(_initial(), v)
    ).final()
    deadline = time.monotonic() + float(timeout_s)
    app.run()
    if seen["n"] < count or time.monotonic() > deadline:
        print(json.dumps({"error": f"saw {seen['n']} of {count}"}))
        return 1
    elapsed = seen["last"] - seen["first"]
    print(
        json.dumps(
            {
                "points_per_s": count * len(SENSORS) / elapsed,
                "records": count,
                "note": "final() windows, RocksDB state with changelog",
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
