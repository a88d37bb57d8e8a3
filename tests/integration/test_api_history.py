"""Latest values and window aggregates from a real InfluxDB, and the time bounds of the
history routes, over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from api.settings import ApiSettings
from contracts.timefmt import format_ts, now_ms

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def api_settings(make_api_settings: Callable[..., ApiSettings]) -> ApiSettings:
    return make_api_settings(partitions=1)


@pytest.fixture
def http_headers(admin_headers: dict[str, str]) -> dict[str, str]:
    return admin_headers


async def _write(settings: ApiSettings, bucket: str, lines: list[str]) -> None:
    async with InfluxDBClientAsync(
        url=settings.influx_url,
        token=settings.influx_token.get_secret_value(),
        org=settings.influx_org,
    ) as client:
        await client.write_api().write(bucket=bucket, record="\n".join(lines), write_precision="ms")


async def test_latest_gives_each_sensors_newest_value(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    machine = f"h{uuid.uuid4().hex[:8]}"
    base = now_ms() - 60_000
    await _write(
        api_settings,
        api_settings.influx_bucket,
        [
            f"readings,machine_id={machine},plant=p temperature_c=60.5,power_kw=3.0 {base}",
            f"readings,machine_id={machine},plant=p temperature_c=61.5 {base + 1000}",
        ],
    )

    response = await http.get(f"/api/machines/{machine}/latest")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["values"] == {
        "power_kw": {"value": 3.0, "ts": format_ts(base)},
        "temperature_c": {"value": 61.5, "ts": format_ts(base + 1000)},
    }
    again = await http.get(
        f"/api/machines/{machine}/latest", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304


async def test_latest_gives_text_tags_apart_from_numbers(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    machine = f"h{uuid.uuid4().hex[:8]}"
    base = now_ms() - 60_000
    await _write(
        api_settings,
        api_settings.influx_bucket,
        [
            f'readings,machine_id={machine} temperature_c=60.5,recipe="PA6 \\"GF\\"" {base}',
            f'readings,machine_id={machine} temperature_c=61.5,temperature_c_quality="bad",'
            f'batch_id="B-7",batch_id_quality="bad" {base + 1000}',
        ],
    )

    response = await http.get(f"/api/machines/{machine}/latest")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["values"] == {"temperature_c": {"value": 61.5, "ts": format_ts(base + 1000)}}
    assert body["texts"] == {
        "batch_id": {"value": "B-7", "ts": format_ts(base + 1000)},
        "recipe": {"value": 'PA6 "GF"', "ts": format_ts(base)},
    }


async def test_latest_without_text_tags_has_no_texts_key(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    machine = f"h{uuid.uuid4().hex[:8]}"
    await _write(
        api_settings,
        api_settings.influx_bucket,
        [f"readings,machine_id={machine} temperature_c=60.5 {now_ms() - 60_000}"],
    )
    body = (await http.get(f"/api/machines/{machine}/latest")).json()
    assert "texts" not in body and set(body["values"]) == {"temperature_c"}


async def test_aggregates_of_one_window_kind_and_sensor(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    machine = f"h{uuid.uuid4().hex[:8]}"
    start = (now_ms() // 60_000 - 5) * 60_000
    stats = "count=10i,min=60.0,max=70.0,mean=65.0,last=66.0,stddev=1.5"
    lines = [
        f"aggregates,machine_id={machine},sensor=temperature_c,window=1m {stats} {start}",
        f"aggregates,machine_id={machine},sensor=power_kw,window=1m {stats} {start}",
        f"aggregates,machine_id={machine},sensor=temperature_c,window=1m {stats} {start + 60_000}",
        f"aggregates,machine_id={machine},sensor=temperature_c,window=5m_1m {stats} {start}",
    ]
    await _write(api_settings, api_settings.influx_aggregates_bucket, lines)

    response = await http.get(
        f"/api/machines/{machine}/aggregates",
        params={"window": "1m", "sensors": "temperature_c", "start": "-1h"},
    )

    assert response.status_code == 200, response.text
    points = response.json()["points"]
    assert [p["ts"] for p in points] == [format_ts(start), format_ts(start + 60_000)]
    assert points[0] == {
        "ts": format_ts(start),
        "sensor": "temperature_c",
        "count": 10,
        "min": 60.0,
        "max": 70.0,
        "mean": 65.0,
        "last": 66.0,
        "stddev": 1.5,
    }
    both = await http.get(f"/api/machines/{machine}/aggregates", params={"limit": 2})
    assert both.json()["truncated"] is True and len(both.json()["points"]) == 2
    bad = await http.get(f"/api/machines/{machine}/aggregates", params={"window": "1m\n"})
    assert bad.status_code == 422 and "window" in bad.json()["detail"]


def _minutes(machine: str, first_ms: int, *, summed_from: int) -> tuple[list[str], list[tuple]]:
    """Three hours of one-minute windows of ``temperature_c``; minutes before
    ``summed_from`` lack ``sum`` (as older workers wrote them). The minutes that have it
    carry a ``mean`` that disagrees with it, so an answer that weighs means by counts
    where a sum is there is wrong. Also ``(hour, sum, count)`` per minute."""
    lines, minutes = [], []
    for i in range(180):
        count = 1 + i % 7
        total = (i % 11 + 0.5) * count
        fields = f"count={count}i,min=0.0,max=20.0,last=1.0,stddev=0.5"
        if i < summed_from:
            fields += f",mean={total / count}"
        else:
            fields += f",mean=999.0,sum={total}"
        at = first_ms + i * 60_000
        lines.append(
            f"aggregates,machine_id={machine},sensor=temperature_c,window=1m {fields} {at}"
        )
        minutes.append((i // 60, total, count))
    return lines, minutes


@pytest.mark.parametrize("summed_from", [0, 45, 180], ids=["all-summed", "mixed", "none-summed"])
async def test_long_windows_from_aggregates_add_sums_and_counts(
    http: httpx.AsyncClient, api_settings: ApiSettings, summed_from: int
) -> None:
    machine = f"h{uuid.uuid4().hex[:8]}"
    first = (now_ms() // 3_600_000 - 4) * 3_600_000
    lines, minutes = _minutes(machine, first, summed_from=summed_from)
    await _write(api_settings, api_settings.influx_aggregates_bucket, lines)
    span = {"start": format_ts(first), "stop": format_ts(first + 3 * 3_600_000), "window": "1h"}
    ends = [format_ts(first + h * 3_600_000) for h in (1, 2, 3)]

    for fn in ("mean", "sum", "count"):
        answer = await http.get(
            f"/api/machines/{machine}/readings", params={**span, "fn": fn, "source": "auto"}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["source"] == answer.headers["x-millstream-source"] == "aggregates"
        assert [p["ts"] for p in body["points"]] == ends
        for hour, point in enumerate(body["points"]):
            total = sum(t for h, t, _ in minutes if h == hour)
            count = sum(n for h, _, n in minutes if h == hour)
            want = {"mean": total / count, "sum": total, "count": count}[fn]
            assert point["temperature_c"] == pytest.approx(want, rel=1e-12), (fn, hour)

    rows = await http.get(
        f"/api/machines/{machine}/aggregates", params={"start": span["start"], "limit": 1}
    )
    first_minute = rows.json()["points"][0]
    assert ("sum" in first_minute) is (summed_from == 0)


def _tally(
    want: dict[tuple[str, int], tuple[float, int]], key: tuple[str, int], total: float, count: int
) -> None:
    """Add one minute's sum and count to its sensor's window in ``want``."""
    s, n = want.get(key, (0.0, 0))
    want[key] = (s + total, n + count)


async def test_each_sensor_keeps_its_own_sums_in_long_windows(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    """Sums and counts of several sensors, read together, stay with their sensor: the
    means of 2-hour windows over three hours (one window cut by ``stop``), every sensor
    and one asked for by name."""
    machine = f"h{uuid.uuid4().hex[:8]}"
    first = (now_ms() // 7_200_000 - 2) * 7_200_000
    sensors = {"temperature_c": 1.0, "power_kw": 100.0, "spindle_rpm": 1000.0}
    lines, want = [], {}
    for i in range(180):
        at = first + i * 60_000
        for sensor, scale in sensors.items():
            count = 1 + (i + len(sensor)) % 5
            total = (i % 13 + scale) * count
            lines.append(
                f"aggregates,machine_id={machine},sensor={sensor},window=1m count={count}i,"
                f"min=0.0,max=20.0,last=1.0,stddev=0.5,mean=999.0,sum={total} {at}"
            )
            _tally(want, (sensor, i // 120), total, count)
    await _write(api_settings, api_settings.influx_aggregates_bucket, lines)
    span = {"start": format_ts(first), "stop": format_ts(first + 3 * 3_600_000), "window": "2h"}
    for fields in (None, "power_kw"):
        params = {**span, "fn": "mean", "source": "auto", **({"fields": fields} if fields else {})}
        answer = await http.get(f"/api/machines/{machine}/readings", params=params)
        assert answer.status_code == 200, answer.text
        points = answer.json()["points"]
        ends = [format_ts(first + 7_200_000), format_ts(first + 3 * 3_600_000)]
        assert [p["ts"] for p in points] == ends
        for window, point in enumerate(points):
            names = [fields] if fields else list(sensors)
            assert sorted(k for k in point if k != "ts") == sorted(names)
            for sensor in names:
                total, count = want[(sensor, window)]
                assert point[sensor] == pytest.approx(total / count, rel=1e-12), (sensor, window)


async def test_one_minute_without_its_sum_amid_summed_ones_is_weighed_by_its_count(
    http: httpx.AsyncClient, api_settings: ApiSettings
) -> None:
    """A single minute lacking ``sum`` in the middle of the range, of one sensor only:
    every sensor's mean and sum still count it as mean x count (the summed minutes carry a
    mean that disagrees with their sum, so weighing those by count is wrong too)."""
    machine = f"h{uuid.uuid4().hex[:8]}"
    first = (now_ms() // 3_600_000 - 3) * 3_600_000
    lines, want = [], {}
    for i in range(120):
        for sensor in ("power_kw", "temperature_c"):
            count, total = 1 + i % 4, (i % 9 + 0.25) * (1 + i % 4)
            fields = f"count={count}i,min=0.0,max=20.0,last=1.0,stddev=0.5"
            lacks_sum = sensor == "temperature_c" and i == 75
            fields += f",mean={total / count}" if lacks_sum else f",mean=999.0,sum={total}"
            at = first + i * 60_000
            lines.append(f"aggregates,machine_id={machine},sensor={sensor},window=1m {fields} {at}")
            _tally(want, (sensor, i // 60), total, count)
    await _write(api_settings, api_settings.influx_aggregates_bucket, lines)
    span = {"start": format_ts(first), "stop": format_ts(first + 2 * 3_600_000), "window": "1h"}
    for fn in ("mean", "sum"):
        answer = await http.get(
            f"/api/machines/{machine}/readings", params={**span, "fn": fn, "source": "auto"}
        )
        assert answer.status_code == 200, answer.text
        points = answer.json()["points"]
        assert [p["ts"] for p in points] == [format_ts(first + h * 3_600_000) for h in (1, 2)]
        for hour, point in enumerate(points):
            for sensor in ("power_kw", "temperature_c"):
                total, count = want[(sensor, hour)]
                expected = total / count if fn == "mean" else total
                assert point[sensor] == pytest.approx(expected, rel=1e-12), (fn, sensor, hour)


@pytest.mark.parametrize(
    "start", ["-999999999w", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"]
)
@pytest.mark.parametrize("route", ["readings", "aggregates", "latest"])
async def test_out_of_range_start_is_a_4xx_naming_start(
    http: httpx.AsyncClient, route: str, start: str
) -> None:
    response = await http.get(f"/api/machines/42/{route}", params={"start": start})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"].startswith("start")


@pytest.mark.parametrize("route", ["readings", "aggregates", "latest", "alarms", "thresholds"])
async def test_machine_id_with_a_trailing_newline_is_422(
    http: httpx.AsyncClient, route: str
) -> None:
    response = await http.get(f"/api/machines/42%0A/{route}")
    assert response.status_code == 422, response.text
    assert "machine_id" in response.json()["detail"]
