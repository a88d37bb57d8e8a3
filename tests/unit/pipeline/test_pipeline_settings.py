from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.errors import MillstreamError
from pipeline.settings import PipelineSettings
from pipeline.sink.errors import InfluxWriteError, SinkBackpressureError, classify
from pipeline.sink.influx import InfluxSink


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("MILLSTREAM_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults(clean_env):
    s = PipelineSettings()
    assert s.pipeline_app_id == "millstream-pipeline"
    assert s.pipeline_web_port is None
    assert s.pipeline_partitions is None


def test_reads_millstream_pipeline_variables(clean_env):
    clean_env.setenv("MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9093")
    clean_env.setenv("MILLSTREAM_TOPIC_PREFIX", "plant7")
    clean_env.setenv("MILLSTREAM_PIPELINE_APP_ID", "pipe-b")
    clean_env.setenv("MILLSTREAM_PIPELINE_DATA_DIR", "/var/lib/pipe-b")
    clean_env.setenv("MILLSTREAM_PIPELINE_WEB_PORT", "6067")
    clean_env.setenv("MILLSTREAM_PIPELINE_BATCH_SIZE", "250")
    clean_env.setenv("MILLSTREAM_PIPELINE_BATCH_MAX_WAIT_MS", "200")
    s = PipelineSettings()
    assert s.kafka().bootstrap == ("k1:9092", "k2:9093")
    assert s.topics.readings == "plant7.readings"
    assert s.pipeline_app_id == "pipe-b"
    assert s.pipeline_data_dir == Path("/var/lib/pipe-b")
    assert s.pipeline_web_port == 6067
    assert (s.pipeline_batch_size, s.pipeline_batch_max_wait_ms) == (250, 200)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MILLSTREAM_PIPELINE_BATCH_SIZE", "0"),
        ("MILLSTREAM_PIPELINE_WEB_PORT", "70000"),
        ("MILLSTREAM_PIPELINE_WINDOW_TUMBLING_S", "0"),
        ("MILLSTREAM_PIPELINE_MAX_PENDING_BATCHES", "0"),
        ("MILLSTREAM_PIPELINE_APP_ID", "has space"),
        ("MILLSTREAM_KAFKA_BOOTSTRAP_SERVERS", " , "),
    ],
)
def test_bad_values_are_refused_naming_the_field(clean_env, variable, value):
    clean_env.setenv(variable, value)
    with pytest.raises(ValidationError) as info:
        PipelineSettings()
    field = variable.removeprefix("MILLSTREAM_").lower()
    assert field in str(info.value)


async def test_sink_makes_one_attempt_and_names_the_error(unused_tcp_port):
    sink = InfluxSink(
        url=f"http://127.0.0.1:{unused_tcp_port}",
        token="t",
        org="o",
        readings_bucket="telemetry",
        alarms_bucket="alarms",
        timeout_ms=2000,
    )
    async with sink:
        with pytest.raises(InfluxWriteError) as info:
            await sink.write_readings(["readings,machine_id=1 temperature_c=1 1"])
    error = info.value
    assert isinstance(error, MillstreamError)
    assert (error.bucket, error.lines) == ("telemetry", 1)
    assert error.outcome == "retryable"
    assert error.status is None
    assert error.__cause__ is not None
    assert "bucket telemetry: 1 lines not written" in str(error)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (429, "backpressure"),
        (503, "backpressure"),
        (400, "refused"),
        (422, "refused"),
        (404, "retryable"),
        (500, "retryable"),
        (None, "retryable"),
    ],
)
def test_outcomes_are_classified(status, outcome):
    assert classify(status) == outcome


def test_backpressure_error_is_named():
    sink = InfluxSink(url="http://x", token="t", org="o", readings_bucket="a", alarms_bucket="b")
    error = sink._error("a", ["l"], 429, "too many requests", 2.0)
    assert isinstance(error, SinkBackpressureError)
    assert error.retry_after_s == 2.0
    assert error.retryable


async def test_sink_writes_nothing_for_an_empty_batch():
    """Port 1 refuses connections: any request at all would raise InfluxWriteError."""
    sink = InfluxSink(
        url="http://127.0.0.1:1", token="t", org="o", readings_bucket="a", alarms_bucket="b"
    )
    async with sink:
        await sink.write_alarms([])
        await sink.write_readings([])


def test_an_alarms_only_worker_must_turn_windows_off_and_is_told_so(clean_env):
    from contracts.errors import ConfigError
    from contracts.settings import load_settings

    clean_env.setenv("MILLSTREAM_PIPELINE_STORAGE_ENABLED", "false")
    with pytest.raises(ConfigError, match="MILLSTREAM_PIPELINE_WINDOWS_ENABLED=false"):
        load_settings(PipelineSettings)
    clean_env.setenv("MILLSTREAM_PIPELINE_WINDOWS_ENABLED", "false")
    assert not load_settings(PipelineSettings).pipeline_storage_enabled
    clean_env.setenv("MILLSTREAM_PIPELINE_ALARMS_ENABLED", "false")
    with pytest.raises(ConfigError, match="would do nothing"):
        load_settings(PipelineSettings)
